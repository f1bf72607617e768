"""The report's "Fix" section and the terminal's sentences, from summary.json's ``fixes`` block.

Per variant that dropped requests: the sentence a person can act on, the patch file, each of its
fields with the measured numbers behind the value, what no patch fixes with its evidence (a
partial fix says so, and why), the preStop spelling chosen and how the patch was validated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

# How the patch was checked (fixes.<v>.validated), in words.
VALIDATED = {
    "client": "by kubectl's client side (kubectl patch --local onto the variant's Deployment)",
    "server-dry-run": "by the API server in a dry run (validation and admission, nothing stored)",
}


def _fixes(summary: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    block = summary.get("fixes")
    if not isinstance(block, Mapping):
        return {}
    return {str(k): v for k, v in block.items() if isinstance(v, Mapping)}


def fix_sentences(summary: Mapping[str, Any]) -> list[str]:
    """One line per failing variant for the terminal, after the run's tables."""
    return [
        f"{name}: {entry.get('sentence')}"
        for name, entry in _fixes(summary).items()
        if entry.get("sentence")
    ]


def fix_section(summary: Mapping[str, Any]) -> Markup:
    """The HTML of the "Fix" section; empty for a summary written before fixes existed."""
    if "fixes" not in summary:
        return Markup("")
    fixes = _fixes(summary)
    parts = ['<section id="fixes">', "<h2>Fix</h2>"]
    if not fixes:
        parts.append('<p class="muted">No variant dropped a request: nothing to fix.</p>')
    for name, entry in fixes.items():
        parts.append(_variant(name, entry))
    parts.append("</section>")
    return Markup("\n".join(parts))


def _variant(name: str, entry: Mapping[str, Any]) -> str:
    partial = bool(entry.get("partial"))
    file = entry.get("file")
    link = (
        f'<a class="raw" href="{escape(quote(str(file)))}">{escape(file)}</a>'
        if file
        else "no patch file (the sentence says why)"
    )
    tag = ' <span class="tag bad">partial</span>' if partial else ""
    out = [
        f'<div class="fix" data-variant="{escape(name)}" data-partial="{str(partial).lower()}">',
        f"<h3>{escape(name)}: {link}{tag}</h3>",
        f'<p class="fix-sentence">{escape(entry.get("sentence") or "")}</p>',
    ]
    fields = [f for f in entry.get("fields") or [] if isinstance(f, Mapping)]
    if fields:
        out.append('<table class="fix-fields"><thead><tr><th>field</th><th>value</th>')
        out.append("<th>the numbers behind it</th></tr></thead><tbody>")
        for f in fields:
            out.append(
                f"<tr><td><code>{escape(f.get('field'))}</code></td>"
                f"<td>{escape(f.get('value'))}</td><td>{escape(f.get('why'))}</td></tr>"
            )
        out.append("</tbody></table>")
    causes = [u for u in entry.get("unfixable") or [] if isinstance(u, Mapping)]
    if causes:
        why = "this fix is partial: " if partial else ""
        out.append(f"<h4>What no patch fixes ({why}the app itself must change)</h4><ul>")
        for u in causes:
            out.append(
                f'<li class="unfixable"><strong>{escape(u.get("what"))}</strong>. '
                f"Evidence: {escape(u.get('evidence'))}.</li>"
            )
        out.append("</ul>")
    notes = [str(n) for n in entry.get("notes") or []]
    if entry.get("prestop_spelling"):
        notes.append(f"preStop as {entry['prestop_spelling']}: {entry.get('prestop_spelling_why')}")
    if entry.get("prestop_spelling") == "exec sleep" and entry.get("sleep_binary"):
        notes.append(f"`sleep` binary in the image: {entry['sleep_binary']}")
    validated = str(entry.get("validated"))
    notes.append(f"validated: {VALIDATED.get(validated, validated)}")
    if entry.get("server_version"):
        notes.append(f"server version: {entry['server_version']}")
    out.append('<ul class="fix-notes">')
    out += [f"<li>{escape(n)}</li>" for n in notes]
    out.append("</ul></div>")
    return "\n".join(out)
