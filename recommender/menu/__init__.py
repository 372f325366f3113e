"""menu — a personal course menu for one cadre and year under hard and soft constraints.

- ``builder``: the menu request, its constraints and the ``Menu`` result
- ``eligibility``: which courses can be planned at all (hard filters) and unmet diagnosis
- ``solver``: course selection (compulsory first, then MILP / greedy)
- ``schedule``: session windows, weeks and the week-by-week layout
- ``planning``: glue — score with the model, then build the menu
"""
