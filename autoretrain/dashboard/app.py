"""The Streamlit script (`streamlit run autoretrain/dashboard/app.py`, or `autoretrain dashboard`).

The source comes from `AUTORETRAIN_DASHBOARD_SOURCE` (`demo:<dir>` or `stack:`, see `sources.open_source`); the
page from the URL's `?page=<slug>` (`views.PAGES`), so every page has an address a browser can open directly.
Each page ends with an invisible marker naming it and the charts it drew, which the screenshot check reads.
"""

from __future__ import annotations

import os

import streamlit as st

from autoretrain.dashboard.sources import SOURCE_ENV, SourceError, TrackingSource, open_source
from autoretrain.dashboard.views import MARKER_ID, PAGES, Page

#: The variables that name a stack and the endpoint it is reached at.
_STACK_VARIABLES = ("AUTORETRAIN_", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION")


@st.cache_resource(show_spinner=False)
def _source(spec: str, environment: tuple[tuple[str, str], ...]) -> TrackingSource:
    """One source per spec and stack environment (the cache key: a stack is named by its variables)."""
    return open_source(spec, dict(environment))


def _environment() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, value) for name, value in os.environ.items() if name.startswith(_STACK_VARIABLES)))


def _page() -> Page:
    """The page the URL names (the first page when it names none or an unknown one), chosen in the sidebar."""
    slugs = [page.slug for page in PAGES]
    requested = st.query_params.get("page", slugs[0])
    titles = {page.slug: page.title for page in PAGES}
    slug = st.sidebar.radio(
        "Page", slugs, index=slugs.index(requested) if requested in slugs else 0, format_func=titles.__getitem__
    )
    st.query_params["page"] = slug
    return PAGES[slugs.index(slug)]


def main() -> None:
    """Draw the page the URL asks for."""
    st.set_page_config(page_title="autoretrain dashboard", layout="wide")
    spec = os.environ.get(SOURCE_ENV, "")
    page = _page()
    try:
        source = _source(spec, _environment())
    except SourceError as error:
        st.error(f"No data to show: {error}")
        return
    st.sidebar.caption(source.label)
    drawn = page.draw(source)
    st.html(f'<span id="{MARKER_ID}" data-page="{page.slug}" data-charts="{drawn}"></span>')


main()
