"""insights — planners' analyses: what cadres need that the catalog does not offer.

- ``topic_text`` / ``topics``: a topic layer shared by catalog and cadre texts
- ``gaps``: demand, supply and gap per topic, segment and quarter
- ``catalog_health``: courses nobody takes, cadres whose menu cannot reach the target
- ``report``: the Excel gap report; ``plotting``: charts with a packaged CJK font
"""
