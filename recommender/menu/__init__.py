"""menu — a personal course menu for one cadre and year under hard and soft constraints.

- ``types``: the menu request, its constraints and the ``Menu`` result (defined once)
- ``builder``: resolves a request's defaults and assembles the menu
- ``eligibility``: which courses can be planned at all (hard filters) and unmet diagnosis
- ``solver``: course selection (compulsory first, then MILP / greedy)
- ``schedule``: weeks, overlaps and the week-by-week layout
- ``ledger``: 学时 earned in a year (the model's hours ledger + newer events), the default
  plan year (the rules' cut-over day) and a cadre's 学时档案 (``hours_record``)
- ``planning``: glue — score with the model, then build the menu (已获 from ``ledger``)
- ``unit``: many cadres at once — a unit's menus workbook, batch recommendations with titles
"""
