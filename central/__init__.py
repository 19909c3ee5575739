"""The utility's central system for its PEV charging program."""
