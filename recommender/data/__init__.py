"""data — the data contract and everything built from raw tables.

- ``schema``: column names, types, header aliases (the contract, defined once)
- ``cells``: cell parsers (numbers with units, dates, yes/no, enums)
- ``readers``: raw file reading (CSV in UTF-8/GBK, XLSX, Parquet)
- ``loading``: validate tables into typed frames plus a rejects list (``load_dataset``)
- ``features``: id maps, interaction weights, segments, quality prior, context bits
- ``rules``: training rules (hour targets per rank band, menu defaults) from a TOML file
"""
