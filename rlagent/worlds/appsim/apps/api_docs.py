"""The api_docs app: descriptions and full docs of every app's APIs (AppWorld's doc shape)."""

from __future__ import annotations

from typing import Any

from rlagent.worlds.appsim.framework import ApiError, App, api


class ApiDocsApp(App):
    name = "api_docs"
    description = "Documentation of every app and API: descriptions, parameters, responses."
    has_accounts = False

    def _app(self, app_name: str) -> dict[str, Any]:
        apis = self.world.apis.get(app_name)
        if apis is None:
            raise ApiError(404, f"No app named '{app_name}'. Apps: {', '.join(self.world.apis)}.")
        return apis

    @api(
        "GET",
        "/api_docs/app_descriptions",
        "The name and description of every app.",
        auth=False,
        returns=[{"name": "string", "description": "string"}],
    )
    def show_app_descriptions(self) -> list[dict[str, str]]:
        return [{"name": name, "description": app.description} for name, app in self.world.apps.items()]

    @api(
        "GET",
        "/api_docs/api_descriptions/{app_name}",
        "The name and description of every API of an app.",
        auth=False,
        returns=[{"name": "string", "description": "string"}],
    )
    def show_api_descriptions(self, app_name: str) -> list[dict[str, str]]:
        return [{"name": name, "description": a.description} for name, a in self._app(app_name).items()]

    @api(
        "GET",
        "/api_docs/api_doc/{app_name}/{api_name}",
        "The full doc of one API: path, method, parameters and response schemas.",
        auth=False,
    )
    def show_api_doc(self, app_name: str, api_name: str) -> dict[str, Any]:
        found = self._app(app_name).get(api_name)
        if found is None:
            raise ApiError(404, f"No API named '{api_name}' in the {app_name} app.")
        return found.doc()

    @api(
        "GET",
        "/api_docs/search",
        "Search every API's name and description for words of a query.",
        auth=False,
        params={"query": "Words to look for."},
        returns=[{"app_name": "string", "api_name": "string", "description": "string"}],
    )
    def search_api_docs(self, query: str, page_index: int = 0, page_limit: int = 5) -> list[dict[str, str]]:
        words = [w for w in query.lower().replace("_", " ").split() if w]
        scored = []
        for app_name, apis in self.world.apis.items():
            for name, a in apis.items():
                text = f"{app_name} {name.replace('_', ' ')} {a.description}".lower()
                score = sum(text.count(w) for w in words)
                if score:
                    scored.append((-score, app_name, name, a.description))
        scored.sort()
        hits = [{"app_name": a, "api_name": n, "description": d} for _, a, n, d in scored]
        return self.page(hits, page_index, page_limit)
