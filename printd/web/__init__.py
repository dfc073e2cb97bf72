"""printd-web, the station's dashboard: its own process, reaching printd only over the control socket.

Modules, from the process down:

- ``server``: ``printd-web --config PATH``: uvicorn, TLS, logs, sd_notify, SIGTERM.
- ``app``: the Starlette application: routes, the process's parts (``WebState``) and their lifetime.
- ``state``: ``Settings`` (what the station's TOML says) and ``WebState`` (the parts handlers reach).
- ``security``: the headers on every response (Content-Security-Policy, no framing, no caching of pages) and the
  Host check (a request naming another host is refused: DNS rebinding).
- ``access``: who is asking (session, account, role, language) and whether the pages need a login.
- ``sessions``: sessions in memory, their CSRF tokens and flash messages (a state machine as a table).
- ``login``: signing in and out, the failed-login limit, the language switch.
- ``pages``: the pages (GET): station, jobs and a job (its actions, settling a card in doubt), spoiled blanks,
  stock, errors.
- ``report_pages``: the reports page, its documents as CSV and PDF downloads (printd.reports.exports), the charts.
- ``scrape``: ``/metrics`` for Prometheus (``metrics``: the exposition), for the addresses of ``[web] metrics_from``.
- ``actions``: the forms (POST) sent to printd on behalf of the account: one table of actions.
- ``live``: the one poller of printd per process and the server-sent events to every open page.
- ``display``: printd's replies turned into what the station page shows (pure functions, comparable records).
- ``replies``: reading a field of printd's replies defensively (of the wrong type: taken as absent).
- ``tables``: printd's replies as the rows of the other pages' tables (pure functions; references, never names).
- ``charts``: the charts as SVG drawn on the server.
- ``render``: ``page(request, template, context)`` and the live sections' fragments; the navigation.
- ``templates``: the Jinja2 environment: translated per render, Babel filters for numbers and times.
- ``daemon_link``: calls to printd from a pool of asyncio clients, each with its timeout.

Templates are in ``templates/`` (pages extend ``base.html``; ``live/`` holds the sections sent as events), the
stylesheet and the vendored htmx in ``static/`` (see ``static/vendor/README.md``).
"""
