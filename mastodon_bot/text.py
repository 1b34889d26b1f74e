"""Plain text from the HTML that Mastodon-API servers send as a status's ``content``."""

from __future__ import annotations

from html.parser import HTMLParser

_BREAKS = {"br": "\n"}
_BLOCKS = {"p", "div", "li", "blockquote", "pre"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, _attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKS:
            self.parts.append(_BREAKS[tag])
        elif tag in _BLOCKS and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    """The text a person sees: tags dropped, entities decoded, paragraphs and line breaks kept."""
    parser = _Text()
    parser.feed(content)
    parser.close()
    lines = "".join(parser.parts).split("\n")
    return "\n".join(line.strip() for line in lines).strip()
