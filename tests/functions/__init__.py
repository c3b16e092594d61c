"""Custom functions with hand-written gradients, for ``gradcheck.check_function``'s tests."""
