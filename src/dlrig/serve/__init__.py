"""`dlrig serve`: the build, its findings and its charts on a local web page, and a JSON API.

api.py: what each route computes (plain functions, the command line's JSON); app.py: the web
application (FastAPI) and its guards; run.py: binding, the printed address, the browser;
static/: the page (HTML, CSS and JavaScript, no build step, nothing loaded from outside).
"""
