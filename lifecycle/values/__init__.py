"""The domain's values and what its inputs say: policies, versions, people, messages (model),
dates and half terms, the settings (config.toml), a policy's file (sources), the statutory
catalogue, and the errors. No I/O beyond reading a file it is given."""
