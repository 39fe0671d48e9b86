"""What the template's tests share: baking, installed projects, served UIs, expected outcomes."""
