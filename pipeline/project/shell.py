"""Just enough shell to find the commands in a RUN script.

A RUN line is usually `a && b \\ && c`; the rules need each simple command's words (quotes
removed) and the `VAR=value` assignments in front of it. Redirections, comments, `$(...)`
and control keywords are handled well enough not to be mistaken for commands; anything
stranger degrades to extra words, never an exception.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

_SEPARATORS = frozenset(";&|()\n")
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash"})
_ASSIGNMENT = re.compile(r"[A-Za-z_]\w*=")
# Words that come before the real program of a simple command.
_PREFIXES = frozenset(
    {"sudo", "env", "time", "nohup", "exec", "command", "then", "do", "else", "elif", "if"}
    | {"while", "until", "!", "{", "}"}
)


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)  # inline `VAR=value` assignments

    @property
    def program(self) -> str:
        """The program's base name: `/opt/conda/bin/pip3` -> `pip3`."""
        return posixpath.basename(self.argv[0]) if self.argv else ""

    @property
    def arguments(self) -> tuple[str, ...]:
        """The words after the program that are not options."""
        return tuple(word for word in self.argv[1:] if not word.startswith("-"))


def commands(script: str) -> list[Command]:
    """The simple commands of `script`, in order, looking inside `sh -c '...'`."""
    found: list[Command] = []
    for words in _split(script):
        command = _command(words)
        inner = _inline_script(command)
        if inner is not None:
            found.extend(commands(inner))
        elif command.argv:
            found.append(command)
    return found


def _inline_script(command: Command) -> str | None:
    """The script of `bash -o pipefail -c 'script'`, or None for other commands."""
    if command.program not in SHELLS:
        return None
    words = iter(command.argv[1:])
    for word in words:
        if word.startswith("-") and not word.startswith("--") and "c" in word:
            return next((w for w in words if not w.startswith("-")), None)
    return None


def _command(words: list[str]) -> Command:
    env: dict[str, str] = {}
    position = 0
    while position < len(words):
        word = words[position]
        if _ASSIGNMENT.match(word):
            name, _, value = word.partition("=")
            env[name] = value
        elif word in _PREFIXES or (word.startswith("-") and position > 0):
            pass  # `sudo -E pip ...`, `env -i X=1 pip ...`
        else:
            break
        position += 1
    return Command(tuple(words[position:]), env)


def _split(script: str) -> list[list[str]]:
    """Words of each simple command; separators and redirections are dropped."""
    commands: list[list[str]] = [[]]
    word: list[str] = []
    in_word = False
    skip_next_word = False  # the target of a redirection
    quote = ""
    position = 0

    def end_word() -> None:
        nonlocal in_word, skip_next_word
        if in_word and not skip_next_word:
            commands[-1].append("".join(word))
        elif in_word:
            skip_next_word = False
        word.clear()
        in_word = False

    while position < len(script):
        char = script[position]
        position += 1
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"' and position < len(script):
                word.append(script[position])
                position += 1
            else:
                word.append(char)
            continue
        if char in "'\"":
            quote, in_word = char, True
        elif char == "\\":
            if position < len(script) and script[position] != "\n":
                word.append(script[position])
                in_word = True
            position += 1
        elif char == "$" and script[position : position + 1] in ("(", "{"):
            closing = _matching(script, position)
            word.append(script[position - 1 : closing])
            in_word, position = True, closing
        elif char == "#" and not in_word:
            newline = script.find("\n", position)
            position = len(script) if newline < 0 else newline
        elif char in "<>" or (char == "&" and script[position : position + 1] == ">"):
            if word and "".join(word).isdigit():
                word.clear()  # the descriptor in `2>file`
                in_word = False
            end_word()
            while position < len(script) and script[position] in "<>&|-":
                position += 1
            skip_next_word = not script[position : position + 1].isdigit()
            if not skip_next_word:
                position += 1  # `2>&1`
        elif char in _SEPARATORS:
            end_word()
            skip_next_word = False
            if commands[-1]:
                commands.append([])
        elif char in " \t\r":
            end_word()
        else:
            word.append(char)
            in_word = True
    end_word()
    return commands


def _matching(script: str, position: int) -> int:
    """Index just past the bracket closing the one at `position`."""
    opening = script[position]
    closing = ")" if opening == "(" else "}"
    depth = 0
    for index in range(position, len(script)):
        if script[index] == opening:
            depth += 1
        elif script[index] == closing:
            depth -= 1
            if depth == 0:
                return index + 1
    return len(script)
