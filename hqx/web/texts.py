"""The portal's words, in French and English, and the language of a request."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"  # the campaign is French first

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "tagline": "Quittez X sans perdre votre public.",
        "start": "Pour commencer, mentionnez le bot ou écrivez-lui :",
        "other_language": "English",
        "upload_title": "Importer votre archive X",
        "upload_intro": (
            "Choisissez le fichier .zip que X vous a envoyé. Seuls votre identifiant X et les "
            "identifiants de vos abonnés et abonnements sont gardés : ni l'archive, ni votre "
            "e-mail, ni votre téléphone."
        ),
        "upload_field": "Votre archive X (.zip)",
        "upload_button": "Importer",
        "signin_title": "Prouver votre compte X",
        "signin_intro": (
            "Une archive se fabrique : seul X peut confirmer que ce compte est à vous. "
            "Connectez-vous sur X : il nous dira votre identifiant, rien d'autre, et nous ne "
            "gardons aucun accès à votre compte."
        ),
        "signin_button": "Se connecter avec X",
        "signin_done": "C'est fait : X a confirmé que ce compte est le vôtre.",
        "following_title": "Vos contacts de X à suivre sur Mastodon",
        "following_intro": (
            "Comptes : {count}. Téléchargez la liste, puis sur votre serveur Mastodon ouvrez "
            "Préférences > Importation et exportation > Importer, choisissez « Liste "
            "d'abonnements » et ce fichier : vous les suivrez tous d'un coup. Ce lien ne sert "
            "qu'une fois."
        ),
        "following_button": "Télécharger la liste",
    },
    "en": {
        "tagline": "Leave X without losing your audience.",
        "start": "To start, mention the bot or write to it:",
        "other_language": "Français",
        "upload_title": "Upload your X archive",
        "upload_intro": (
            "Choose the .zip file X sent you. Only your X account id and the ids of your "
            "followers and followings are kept: never the archive, your e-mail or your phone."
        ),
        "upload_field": "Your X archive (.zip)",
        "upload_button": "Upload",
        "signin_title": "Prove your X account",
        "signin_intro": (
            "An archive can be forged: only X can confirm the account is yours. Sign in on X: "
            "it tells us your account id, nothing else, and we keep no access to your account."
        ),
        "signin_button": "Sign in with X",
        "signin_done": "Done: X confirmed this account is yours.",
        "following_title": "Your X contacts to follow on Mastodon",
        "following_intro": (
            "Accounts: {count}. Download the list, then on your Mastodon server open "
            "Preferences > Import and export > Import, choose “Following list” and this "
            "file: you will follow them all at once. This link works once."
        ),
        "following_button": "Download the list",
    },
}


def language_of(request: web.Request) -> str:
    """``?lang=`` when given, else the first of the browser's languages that the portal
    speaks, else French."""
    asked = request.query.get("lang", "")
    if asked in LANGUAGES:
        return asked
    for item in request.headers.get("Accept-Language", "").split(","):
        tag = item.split(";")[0].strip().lower()
        if tag[:2] in LANGUAGES:
            return tag[:2]
    return DEFAULT_LANGUAGE
