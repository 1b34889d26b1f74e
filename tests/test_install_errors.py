"""A failed install of the local Bluesky network names what npm or node-gyp said went wrong,
not npm's notices."""

from __future__ import annotations

from testworld.bluesky.install import _error_lines

NPM_OUTPUT = """\
npm error code ECONNREFUSED
npm error errno ECONNREFUSED
npm error request to https://example.invalid/x.tgz failed
npm notice
npm notice New major version of npm available! 10.8.2 -> 11.6.0
npm notice To update run: npm install -g npm@11.6.0
"""


def test_npm_errors_are_kept_and_its_notices_dropped() -> None:
    assert _error_lines(NPM_OUTPUT) == [
        "npm error code ECONNREFUSED",
        "npm error errno ECONNREFUSED",
        "npm error request to https://example.invalid/x.tgz failed",
    ]


def test_node_gyp_errors_are_kept() -> None:
    output = "gyp info it worked\ngyp ERR! stack Error: not found: make\ngyp info ok\n"
    assert _error_lines(output) == ["gyp ERR! stack Error: not found: make"]


def test_without_error_lines_the_end_of_the_output_stands() -> None:
    assert _error_lines("step one\nstep two\nnpm notice upgrade\n") == ["step one", "step two"]
