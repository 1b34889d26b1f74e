"""The portal's words, in French and English, and the language of a request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hqx.web.texts_home import HOME_TEXTS
from hqx.web.texts_media import MEDIA_TEXTS

if TYPE_CHECKING:
    from datetime import date

    from aiohttp import web

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"  # the campaign is French first

_PORTAL: dict[str, dict[str, str]] = {
    "fr": {
        "other_language": "English",
        "nav_stats": "Chiffres",
        "nav_media": "Médias",
        "nav_space": "Mon espace",
        "upload_title": "Importer votre archive X",
        "upload_intro": (
            "Choisissez le fichier .zip que X vous a envoyé. Seuls votre identifiant X et les "
            "identifiants de vos abonnés et abonnements sont gardés : ni l'archive, ni votre "
            "e-mail, ni votre téléphone."
        ),
        "upload_field": "Votre archive X (.zip)",
        "upload_button": "Envoyer",
        "upload_drop": "Déposez votre archive ici, ou choisissez-la ci-dessous.",
        "upload_sending": "Envoi de l'archive : {percent} %",
        "upload_reading": "Archive envoyée, lecture en cours…",
        "upload_failed": "L'envoi a échoué : vérifiez votre connexion et réessayez.",
        "check_title": "Est-ce bien votre archive ?",
        "check_intro": "Voici ce qu'elle contient. Rien n'est importé avant votre accord.",
        "check_account": "Compte X",
        "check_followers": "Abonnés",
        "check_following": "Abonnements",
        "check_rejected": "Lignes illisibles, ignorées",
        "check_import": "Importer",
        "check_cancel": "Ne pas importer",
        "upload_gone": (
            "Cette archive n'attend plus : elle a été importée, remplacée, ou elle a expiré. "
            "Rouvrez votre lien pour en envoyer une."
        ),
        "upload_dropped": "C'est fait : rien n'a été importé, et l'archive est effacée.",
        "upload_importing": "Import de votre archive…",
        "upload_wait_note": "Cette page se met à jour toute seule, toutes les quelques secondes.",
        "signin_title": "Prouver votre compte X",
        "signin_intro": (
            "Une archive se fabrique : seul X peut confirmer que ce compte est à vous. "
            "Connectez-vous sur X : il nous dira votre identifiant, rien d'autre, et nous ne "
            "gardons aucun accès à votre compte."
        ),
        "signin_button": "Se connecter avec X",
        "signin_done": "C'est fait : X a confirmé que ce compte X est à {owner}.",
        "signin_disputed": (
            "Ce compte X était déjà confirmé par X pour quelqu'un d'autre : rien n'a bougé. "
            "Il est désormais contesté et ne sert à rien jusqu'à ce qu'un opérateur tranche ; "
            "vous recevrez tous deux un message."
        ),
        "signin_not_from_page": (
            "Cette connexion ne vient pas de la page de votre lien : rouvrez le lien que le "
            "bot vous a envoyé et recommencez depuis là."
        ),
        "link_owner": "Ce lien est celui de :",
        "upload_used": "Ce lien a déjà servi pour une archive ; il permet encore de la "
        "confirmer avec X, jusqu'à son expiration.",
        "link_owner_warning": (
            "Si ces comptes ne sont pas les vôtres, arrêtez-vous ici : ce que vous feriez sur "
            "cette page (votre archive, votre compte X) irait à cette personne."
        ),
        "following_title": "Vos contacts de X à suivre sur Mastodon",
        "following_intro": (
            "Comptes : {count}. Téléchargez la liste, puis sur votre serveur Mastodon ouvrez "
            "Préférences > Importation et exportation > Importer, choisissez « Liste "
            "d'abonnements » et ce fichier : vous les suivrez tous d'un coup. Ce lien ne sert "
            "qu'une fois."
        ),
        "following_button": "Télécharger la liste",
        "space_closed": "Ce service n'ouvre pas d'espace personnel.",
        "server_unreachable": "Votre serveur n'a pas pu être joint sans risque ; réessayez "
        "plus tard ou demandez à ses administrateurs.",
        "space_erased": (
            "C'est fait : tout ce que nous savions de vous est effacé, et ce que le bot avait "
            "publié à votre sujet est en cours de suppression."
        ),
        "space_erased_grants_later": (
            "Votre autorisation de suivre pour vous n'a pas encore pu être retirée sur : "
            "{servers}. Nous réessayons pendant une semaine ; vous pouvez aussi la retirer "
            "vous-même dans les réglages de votre compte là-bas."
        ),
        "space_signin_title": "Entrer dans votre espace",
        "space_signin_intro": "Ce lien ne sert qu'une fois. Vous resterez connecté 12 heures.",
        "space_signin_button": "Entrer",
        "space_signin_not_from_page": (
            "Cette connexion ne vient pas de la page de votre lien : rouvrez le lien que le "
            "bot vous a envoyé."
        ),
        "space_out_title": "Votre espace",
        "space_out_intro": (
            "Pour entrer, demandez un lien au bot : mentionnez-le ou écrivez-lui « espace ». "
            "Il vous l'envoie en privé."
        ),
        "space_title": "Votre espace",
        "accounts_title": "Vos comptes",
        "contacts_title": "Vos contacts de X retrouvés",
        "contacts_none": "Aucun pour l'instant.",
        "contacts_awaited": "Comptes de votre archive X pas encore arrivés : {count}.",
        "relation_follower": "vous suivait",
        "relation_following": "suivi par vous",
        "delivered": "transmis",
        "packs_title": "Kits de démarrage pour vous",
        "pack": "{network}, partie {part} : {members} comptes",
        "pack_shared": "Comptes très suivis sur X, {network}, partie {part} : {members} comptes",
        "settings_title": "Réglages",
        "settings_saved": "Réglages enregistrés.",
        "reconnect": "Retrouver",
        "reconnect_followers": "mes abonnés",
        "reconnect_followings": "mes abonnements",
        "reconnect_both": "les deux",
        "findable": "Mes contacts de X peuvent me retrouver",
        "consent_messages": "Suggestions par message",
        "consent_follow": "Suivre pour moi les comptes retrouvés",
        "consent_directory": "Figurer dans l'annuaire public",
        "consent_attestation": "Publier l'attestation qui relie mes comptes",
        "save": "Enregistrer",
        "data_title": "Vos données",
        "export": "Tout télécharger (JSON)",
        "erase_title": "Tout effacer",
        "erase_intro": (
            "Efface vos comptes reliés, votre graphe X, vos réglages et ce que le bot a publié "
            "à votre sujet. C'est définitif."
        ),
        "erase_confirm": "Oui, tout effacer",
        "erase_button": "Effacer",
        "signout": "Se déconnecter",
        "signout_everywhere": "Se déconnecter partout",
        "stats_title": "Le mouvement en chiffres",
        "stats_chart": "Du {first} au {last}",
        "stats_description": (
            "Combien de personnes quittent X avec HelloQuitteX, et combien de contacts elles "
            "ont retrouvés sur Bluesky et Mastodon, jour après jour."
        ),
        "stats_table": "Les mêmes chiffres en tableau",
        "stats_day": "Jour",
        "thousands": "\u202f",
        "figure_people": "Personnes",
        "figure_archives": "Archives X importées",
        "figure_links": "Comptes reliés",
        "figure_matches": "Contacts retrouvés",
        "figure_packs": "Kits de démarrage et listes",
        "figure_suggestions": "Suggestions transmises",
        "figure_follows": "Abonnements faits pour vous",
        "follows_title": "Suivre pour moi",
        "follows_intro": (
            "Autorisez HelloQuitteX à suivre pour vous, depuis votre compte, vos contacts de X "
            "retrouvés (Mastodon : 400 par jour au plus ; Bluesky : 1 500 par heure, 10 000 par "
            "jour). Vous pouvez retirer l'autorisation à tout moment."
        ),
        "follows_connect_mastodon": "Autoriser sur mon serveur Mastodon",
        "follows_connect_bluesky": "Autoriser sur mon compte Bluesky",
        "follows_app_password": "Ou avec un mot de passe d'application Bluesky",
        "follows_app_password_hint": (
            "Créez-en un dans Bluesky : Réglages > Confidentialité et sécurité > Mots de passe "
            "d'application. Jamais votre mot de passe : un mot de passe d'application se retire "
            "à tout moment, là-bas ou ici."
        ),
        "follows_app_password_field": "Mot de passe d'application",
        "follows_app_password_button": "Autoriser avec ce mot de passe",
        "onward_title": "Vers votre serveur",
        "onward_consent": "Direction {server}, pour y donner votre accord.",
        "onward_share": "Direction {server}, où votre message est prêt à partir.",
        "onward_button": "Continuer",
        "follows_granted": "Autorisé sur {network} pour {handle}.",
        "follows_revoke": "Retirer l'autorisation",
        "follows_progress": (
            "Abonnements faits : {done} ; à venir : {pending} ; impossibles : {failed}."
        ),
        "media_title": "Les médias et organisations",
        "media_none": "Aucun pour l'instant.",
        "status_considering": "En cours de réflexion",
        "status_committed": "Engagés à quitter X",
        "status_left": "Ont quitté X",
        "directory_title": "Annuaire des médias",
        "directory_intro": (
            "Vous représentez un média ou une organisation ? Demandez à figurer dans "
            "l'annuaire public avec les comptes reliés ici ; un opérateur valide la demande."
        ),
        "directory_name": "Nom du média ou de l'organisation",
        "directory_status": "Où en êtes-vous avec X ?",
        "directory_ask": "Demander à figurer",
        "directory_pending": "Demande en attente de validation.",
        "directory_listed": "Vous figurez dans l'annuaire.",
    },
    "en": {
        "other_language": "Français",
        "nav_stats": "Figures",
        "nav_media": "Media",
        "nav_space": "My space",
        "upload_title": "Upload your X archive",
        "upload_intro": (
            "Choose the .zip file X sent you. Only your X account id and the ids of your "
            "followers and followings are kept: never the archive, your e-mail or your phone."
        ),
        "upload_field": "Your X archive (.zip)",
        "upload_button": "Send",
        "upload_drop": "Drop your archive here, or choose it below.",
        "upload_sending": "Sending the archive: {percent} %",
        "upload_reading": "Archive sent, reading it…",
        "upload_failed": "The upload failed: check your connection and try again.",
        "check_title": "Is this your archive?",
        "check_intro": "Here is what it holds. Nothing is imported until you agree.",
        "check_account": "X account",
        "check_followers": "Followers",
        "check_following": "Following",
        "check_rejected": "Unreadable rows, skipped",
        "check_import": "Import",
        "check_cancel": "Do not import",
        "upload_gone": (
            "This archive no longer waits: it was imported, replaced, or it expired. Open "
            "your link again to send one."
        ),
        "upload_dropped": "Done: nothing was imported, and the archive is deleted.",
        "upload_importing": "Importing your archive…",
        "upload_wait_note": "This page updates itself every few seconds.",
        "signin_title": "Prove your X account",
        "signin_intro": (
            "An archive can be forged: only X can confirm the account is yours. Sign in on X: "
            "it tells us your account id, nothing else, and we keep no access to your account."
        ),
        "signin_button": "Sign in with X",
        "signin_done": "Done: X confirmed this X account belongs to {owner}.",
        "signin_disputed": (
            "X had already confirmed this X account for someone else: nothing moved. It is "
            "now disputed and used for nothing until an operator settles it; you will both "
            "get a message."
        ),
        "signin_not_from_page": (
            "This sign-in does not come from your link's page: open the link the bot sent "
            "you again and start from there."
        ),
        "link_owner": "This link belongs to:",
        "upload_used": "This link was used for an archive already; it can still confirm it "
        "with X, until it expires.",
        "link_owner_warning": (
            "If these accounts are not yours, stop here: whatever you do on this page (your "
            "archive, your X account) would go to that person."
        ),
        "following_title": "Your X contacts to follow on Mastodon",
        "following_intro": (
            "Accounts: {count}. Download the list, then on your Mastodon server open "
            "Preferences > Import and export > Import, choose “Following list” and this "
            "file: you will follow them all at once. This link works once."
        ),
        "following_button": "Download the list",
        "space_closed": "This service opens no personal space.",
        "server_unreachable": "Your server could not be reached safely; try again later or "
        "ask its operators.",
        "space_erased": (
            "Done: everything we knew about you is erased, and what the bot published about "
            "you is being deleted."
        ),
        "space_erased_grants_later": (
            "Your permission to follow for you could not be withdrawn yet on: {servers}. We "
            "keep trying for a week; you can also withdraw it yourself in your account's "
            "settings there."
        ),
        "space_signin_title": "Enter your space",
        "space_signin_intro": "This link works once. You will stay signed in for 12 hours.",
        "space_signin_button": "Enter",
        "space_signin_not_from_page": (
            "This sign-in does not come from your link's page: open the link the bot sent "
            "you again."
        ),
        "space_out_title": "Your space",
        "space_out_intro": (
            "To enter, ask the bot for a link: mention it or write “space” to it. It sends "
            "the link privately."
        ),
        "space_title": "Your space",
        "accounts_title": "Your accounts",
        "contacts_title": "Your X contacts found",
        "contacts_none": "None yet.",
        "contacts_awaited": "Accounts of your X archive not here yet: {count}.",
        "relation_follower": "followed you",
        "relation_following": "followed by you",
        "delivered": "delivered",
        "packs_title": "Starter packs for you",
        "pack": "{network}, part {part}: {members} accounts",
        "pack_shared": "Accounts many followed on X, {network}, part {part}: {members} accounts",
        "settings_title": "Settings",
        "settings_saved": "Settings saved.",
        "reconnect": "Find again",
        "reconnect_followers": "my followers",
        "reconnect_followings": "my followings",
        "reconnect_both": "both",
        "findable": "My X contacts can find me",
        "consent_messages": "Suggestions by message",
        "consent_follow": "Follow the accounts found for me",
        "consent_directory": "Be listed in the public directory",
        "consent_attestation": "Publish the attestation linking my accounts",
        "save": "Save",
        "data_title": "Your data",
        "export": "Download everything (JSON)",
        "erase_title": "Erase everything",
        "erase_intro": (
            "Erases your linked accounts, your X graph, your settings and what the bot "
            "published about you. There is no undo."
        ),
        "erase_confirm": "Yes, erase everything",
        "erase_button": "Erase",
        "signout": "Sign out",
        "signout_everywhere": "Sign out everywhere",
        "stats_title": "The movement in figures",
        "stats_chart": "From {first} to {last}",
        "stats_description": (
            "How many people leave X with HelloQuitteX, and how many contacts they found again "
            "on Bluesky and Mastodon, day by day."
        ),
        "stats_table": "The same figures as a table",
        "stats_day": "Day",
        "thousands": ",",
        "figure_people": "People",
        "figure_archives": "X archives imported",
        "figure_links": "Accounts linked",
        "figure_matches": "Contacts found again",
        "figure_packs": "Starter packs and lists",
        "figure_suggestions": "Suggestions delivered",
        "figure_follows": "Follows made for people",
        "follows_title": "Follow for me",
        "follows_intro": (
            "Let HelloQuitteX follow your X contacts found again for you, from your account "
            "(Mastodon: 400 a day at most; Bluesky: 1,500 an hour, 10,000 a day). You can take "
            "the permission back at any time."
        ),
        "follows_connect_mastodon": "Allow it on my Mastodon server",
        "follows_connect_bluesky": "Allow it on my Bluesky account",
        "follows_app_password": "Or with a Bluesky app password",
        "follows_app_password_hint": (
            "Create one in Bluesky: Settings > Privacy and security > App passwords. Never "
            "your password: an app password can be taken back at any time, there or here."
        ),
        "follows_app_password_field": "App password",
        "follows_app_password_button": "Allow it with this password",
        "onward_title": "On to your server",
        "onward_consent": "Going to {server}, for you to give your consent there.",
        "onward_share": "Going to {server}, where your post is ready to go.",
        "onward_button": "Continue",
        "follows_granted": "Allowed on {network} for {handle}.",
        "follows_revoke": "Take the permission back",
        "follows_progress": "Follows made: {done}; to come: {pending}; impossible: {failed}.",
        "media_title": "Media and organisations",
        "media_none": "None yet.",
        "status_considering": "Considering",
        "status_committed": "Committed to leaving X",
        "status_left": "Left X",
        "directory_title": "Media directory",
        "directory_intro": (
            "Do you speak for a media outlet or an organisation? Ask to be in the public "
            "directory with the accounts linked here; an operator approves the request."
        ),
        "directory_name": "Name of the outlet or organisation",
        "directory_status": "Where do you stand with X?",
        "directory_ask": "Ask to be listed",
        "directory_pending": "Request waiting for approval.",
        "directory_listed": "You are in the directory.",
    },
}
TEXTS: dict[str, dict[str, str]] = {
    lang: _PORTAL[lang] | MEDIA_TEXTS[lang] | HOME_TEXTS[lang] for lang in LANGUAGES
}
"""Every word of the portal, by language."""


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


def context(request: web.Request, **values: Any) -> dict[str, Any]:
    """What every template needs: the language, the other one, the words; and ``values``."""
    lang = language_of(request)
    other = next(language for language in LANGUAGES if language != lang)
    return {"lang": lang, "other": other, "t": TEXTS[lang], **values}


MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}  # fmt: skip


def long_date(day: date, lang: str) -> str:
    """``20 janvier 2025``, ``20 January 2025``."""
    return f"{day.day} {MONTHS[lang][day.month - 1]} {day.year}"
