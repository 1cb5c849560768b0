"""The web application: public policy pages, read-and-confirm, the office dashboard."""
