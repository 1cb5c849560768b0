"""The domain: policies, versions, review cycles, people and the register that stores them."""
