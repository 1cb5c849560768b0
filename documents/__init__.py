"""Rendering policy sources to HTML and DOCX."""
