"""Korean and English for everything members see, from catalogues a translator can edit.

- `tr(locale, key, **params)` or `Messages(locale)(key, **params)`: a message in the reader's
  language (`interaction.locale`; anything but Korean reads English).
- `Text(key, **params)`: a message rendered later, in whoever reads it (raise it in an error).

Slash-command names, descriptions, options and choices are translated from the same catalogues
by the Discord layer (`bot.ui.commands.CatalogueTranslator`): this package never imports
discord, so the domain can use `Text` without loading it.

The catalogues are `bot/i18n/<language>.toml`; see the comment at the top of `en.toml`.
"""

from bot.i18n.catalogue import (
    DEFAULT_LANGUAGE,
    Catalogue,
    Text,
    default_catalogue,
    language_of,
    placeholders,
)
from bot.i18n.messages import Messages, failure_text, render, text_of, tr

__all__ = [
    "DEFAULT_LANGUAGE",
    "Catalogue",
    "Messages",
    "Text",
    "default_catalogue",
    "failure_text",
    "language_of",
    "placeholders",
    "render",
    "text_of",
    "tr",
]
