"""Staff console (培训管理员控制台): server-rendered Chinese pages under ``/console``.

Room map: :mod:`.views` (the router: lookup, recommendations, menu preview + Excel, course
page, demand gaps, sign-in), :mod:`.auth` (who may open it: the ``console_auth``
dependency, kept apart so it can be wired to the final API-key scheme), :mod:`.data`
(lookups over the loaded model and the gap report), :mod:`.excel` (the menu workbook and
the formula-injection guard). Templates and static files ship in this package; nothing is
fetched from outside the service, and every response carries a ``default-src 'self'`` CSP.
"""

from service.console.views import router

__all__ = ["router"]
