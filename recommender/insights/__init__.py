"""insights — planners' analyses: what cadres need that the catalog does not offer.

- ``topic_text`` / ``topic_seeds`` / ``topic_names`` / ``topics``: a topic layer shared by
  catalog and cadre texts, seeded by the field taxonomy (independent of the catalog), with
  readable names
- ``gaps``: demand, supply, gap and urgency per topic, segment and quarter
- ``catalog_health``: courses nobody takes, cadres whose menu cannot reach the target
- ``labels``: Chinese names for codes, unit levels in hierarchy order
- ``report``: the Excel gap report (``workbook``: formats, print setup, chart sheets);
  ``plotting``: charts with a packaged CJK font; ``report.for_people``: tables as people read
  them (Chinese headers and labels, shares in % to one decimal, hours to the half 学时)
- ``html_report``: the planner notebooks run with parameters (papermill) as ONE self-contained
  HTML file (``recommender report``)
"""
