"""What a person does, each one transaction: initialise, record a review, add a policy or a
draft, approve at a meeting, import people, confirm a reading, export or erase a person
(operations is the entry point the commands and the web call)."""
