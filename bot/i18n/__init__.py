"""Korean and English for everything members see, from catalogues a translator can edit.

- `tr(locale, key, **params)` or `Messages(locale)(key, **params)`: a message in the reader's
  language (`interaction.locale`; anything but Korean reads English).
- `Text(key, **params)`: a message rendered later, in whoever reads it (raise it in an error).
- `CatalogueTranslator`: slash-command names, descriptions, options and choices in every
  catalogue language (`bot.ui.errors.AppTree` makes fixed choices translatable).

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
from bot.i18n.commands import CatalogueTranslator, localize_choices
from bot.i18n.messages import Messages, failure_text, render, text_of, tr

__all__ = [
    "DEFAULT_LANGUAGE",
    "Catalogue",
    "CatalogueTranslator",
    "Messages",
    "Text",
    "default_catalogue",
    "failure_text",
    "language_of",
    "localize_choices",
    "placeholders",
    "render",
    "text_of",
    "tr",
]
