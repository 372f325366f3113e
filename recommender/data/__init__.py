"""data — the data contract and everything built from raw tables.

- ``schema``: column names, types, header aliases (the contract, defined once)
- ``cells``: cell parsers (numbers with units, dates, yes/no, enums)
- ``errors``: the data layer's exceptions (each names its file)
- ``sheets``: workbooks: sheet choice (or several same-header sheets stacked), header row
  below title rows (two-row headers joined), merged cells, row/size caps, .xls/.ods
- ``html_table``: a platform's ".xls" that is really a web page (HTML table, spans filled)
- ``readers``: raw file reading (CSV in UTF-8/GBK, ragged rows, XLSX/XLS/ODS, Parquet)
- ``rejects``: rejected rows and cleared cells, and their Chinese report
- ``identity``: 身份证号 (15 or 18 digits, ="…", Excel-damaged, platform-masked) → keyed
  hash (cadre_id) + masked display id; look-up by the full
  number (``find_cadre``, ``cadre_key``) and staff search by 姓名/unit (``search_cadres``)
- ``office``: rows and cells as offices write them (合计/小计/注 lines, repeated headers,
  category section rows, exact duplicates, control characters, methods in 授课形式,
  date-only and period session times, unit levels)
- ``sessions``: 开课时间 as written (ranges, 上午/下午, weekdays, dates without a year)
- ``export_steps``: the load steps for files as exported (身份证号, catalog cells, skipped
  lines, records outside the catalog, records lost with a rejected course)
- ``loading``: validate tables into typed frames plus a rejects list (``load_dataset``)
- ``catalog``: ``Catalog``, the catalog parsed once (list cells, sessions, windows, audiences
  through the 适用对象 taxonomy ``resources/audience.toml``)
- ``training``: ``TrainingData`` (id maps, interactions, times, segments) and its splits
- ``features``: id maps, interaction weights, segments, quality prior, context bits
- ``ledger``: ``HoursLedger``, each cadre's completed records of recent years (courses
  outside the catalog included), kept in the model: 学时 already earned
- ``spreadsheet``: CSV/xlsx writing that no spreadsheet runs as a formula
- ``rules``: training rules (hour targets per rank band, menu defaults) from a TOML file
"""
