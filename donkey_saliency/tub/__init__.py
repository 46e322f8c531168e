"""donkeycar tubs: what the format is (schema.py), reading them read-only (read.py), writing them (write.py)."""
