"""What the bots say, in French and English, and which of the two a post is answered in."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable


class Lang(StrEnum):
    """The languages the service speaks."""

    FR = "fr"
    EN = "en"


# Used only when a post declares no language: words a French request is likely to contain.
_FRENCH_WORDS = re.compile(
    r"\b(bonjour|salut|coucou|merci|aide|lier|relier|statut|réglages|reglages|oublier|"
    r"oublie|arrête|arrete|s'il|svp|je|mon|mes|compte|comptes)\b",
    re.IGNORECASE,
)


def answer_language(declared: Iterable[str], text: str) -> Lang:
    """The language to answer a post in: the first it declares that we speak, else French
    if its words look French, else English."""
    for tag in declared:
        primary = tag.split("-", 1)[0].lower()
        if primary in Lang.__members__.values():
            return Lang(primary)
    return Lang.FR if _FRENCH_WORDS.search(text) else Lang.EN


CATALOG: dict[str, dict[Lang, str]] = {
    "help.intro": {
        Lang.FR: (
            "Bonjour ! Je suis HelloQuitteX : je vous aide à retrouver vos contacts de X "
            "sur Bluesky et Mastodon."
        ),
        Lang.EN: (
            "Hello! I'm HelloQuitteX: I help you find your X contacts again on Bluesky "
            "and Mastodon."
        ),
    },
    "help.commands": {
        Lang.FR: "Mentionnez-moi avec : {commands}.",
        Lang.EN: "Mention me with: {commands}.",
    },
    "help.unknown": {
        Lang.FR: "Je n'ai pas compris « {text} ».",
        Lang.EN: "I didn't understand “{text}”.",
    },
    "command.help": {Lang.FR: "aide", Lang.EN: "help"},
    "command.link": {Lang.FR: "lier COMPTE", Lang.EN: "link ACCOUNT"},
    "command.status": {Lang.FR: "statut", Lang.EN: "status"},
    "command.unlink": {Lang.FR: "délier COMPTE", Lang.EN: "unlink ACCOUNT"},
    "unlink.missing": {
        Lang.FR: "Dites-moi quel compte délier, par exemple : « délier alice@piaille.fr ».",
        Lang.EN: "Tell me which account to unlink, for example: “unlink alice@mastodon.social”.",
    },
    "unlink.unknown": {
        Lang.FR: "{handle} n'est pas relié à ce compte.",
        Lang.EN: "{handle} is not linked to this account.",
    },
    "unlink.self": {
        Lang.FR: (
            "C'est le compte qui m'écrit : déliez-le depuis un autre de vos comptes, ou "
            "écrivez « oublier »."
        ),
        Lang.EN: (
            "That is the account writing to me: unlink it from another of your accounts, or "
            "write “forget”."
        ),
    },
    "unlink.done": {
        Lang.FR: "C'est fait : {handle} n'est plus relié.",
        Lang.EN: "Done: {handle} is no longer linked.",
    },
    "command.settings": {Lang.FR: "réglages", Lang.EN: "settings"},
    "command.space": {Lang.FR: "espace", Lang.EN: "space"},
    "space.link": {
        Lang.FR: (
            "Votre lien pour entrer dans votre espace HelloQuitteX, valable 15 minutes et une "
            "seule fois : {url} Ne le partagez pas."
        ),
        Lang.EN: (
            "Your link to sign in to your HelloQuitteX space, valid 15 minutes and once: {url} "
            "Don't share it."
        ),
    },
    "space.sent": {
        Lang.FR: "Je vous ai envoyé en message privé un lien pour entrer dans votre espace.",
        Lang.EN: "I've sent you a private message with a link to sign in to your space.",
    },
    "space.closed": {
        Lang.FR: "Ce service n'a pas de portail web.",
        Lang.EN: "This service has no web portal.",
    },
    "command.stop": {Lang.FR: "stop", Lang.EN: "stop"},
    "command.forget": {Lang.FR: "oublier", Lang.EN: "forget"},
    "yes": {Lang.FR: "oui", Lang.EN: "yes"},
    "no": {Lang.FR: "non", Lang.EN: "no"},
    "reconnect.followers": {Lang.FR: "abonnés", Lang.EN: "followers"},
    "reconnect.followings": {Lang.FR: "abonnements", Lang.EN: "followings"},
    "reconnect.both": {Lang.FR: "tous", Lang.EN: "both"},
    "settings.show": {
        Lang.FR: (
            "Vos réglages : messages {messages}, suivre pour vous {follow}, reconnecter "
            "{reconnect}, trouvable {found}, annuaire {directory}, attestation {attestation}. "
            "Pour changer, par exemple : « réglages messages oui »."
        ),
        Lang.EN: (
            "Your settings: messages {messages}, follow for you {follow}, reconnect "
            "{reconnect}, found {found}, directory {directory}, attestation {attestation}. To "
            "change one, for example: “settings messages yes”."
        ),
    },
    "settings.set": {
        Lang.FR: "C'est noté : {setting} {value}.",
        Lang.EN: "Noted: {setting} {value}.",
    },
    "settings.unknown": {
        Lang.FR: (
            "Je ne connais pas ce réglage. Réglages : messages, suivre, annuaire, attestation "
            "(oui/non), reconnecter (abonnés/abonnements/tous)."
        ),
        Lang.EN: (
            "I don't know that setting. Settings: messages, follow, directory, attestation "
            "(yes/no), reconnect (followers/followings/both)."
        ),
    },
    "stop.done": {
        Lang.FR: (
            "C'est noté : je ne vous écrirai plus que pour vous répondre. Pour reprendre : "
            "« réglages messages oui »."
        ),
        Lang.EN: (
            "Noted: I'll only write to you to answer you. To start again: “settings messages yes”."
        ),
    },
    "forget.nothing": {
        Lang.FR: "Je ne garde rien sur vous.",
        Lang.EN: "I keep nothing about you.",
    },
    "forget.ask": {
        Lang.FR: (
            "J'effacerai tout ce que je sais de vous (comptes reliés, archive, réglages) et ce "
            "que j'ai publié à votre sujet. Pour confirmer, écrivez « oublier confirmer » dans "
            "les 10 minutes."
        ),
        Lang.EN: (
            "I will erase everything I know about you (linked accounts, archive, settings) and "
            "what I published about you. To confirm, write “forget confirm” within 10 minutes."
        ),
    },
    "forget.unasked": {
        Lang.FR: "Pour être oublié, écrivez d'abord « oublier ».",
        Lang.EN: "To be forgotten, first write “forget”.",
    },
    "forget.done": {
        Lang.FR: "C'est fait : je vous ai oublié, et j'efface ce que j'ai publié à votre sujet.",
        Lang.EN: "Done: I have forgotten you, and I'm deleting what I published about you.",
    },
    "network.bluesky": {Lang.FR: "Bluesky", Lang.EN: "Bluesky"},
    "network.mastodon": {Lang.FR: "Mastodon", Lang.EN: "Mastodon"},
    "network.x": {Lang.FR: "X", Lang.EN: "X"},
    "trust.proven": {Lang.FR: "prouvé", Lang.EN: "proven"},
    "trust.claimed": {Lang.FR: "déclaré", Lang.EN: "claimed"},
    "trust.username": {Lang.FR: "nom prouvé", Lang.EN: "username proven"},
    "trust.verified": {Lang.FR: "vérifié par X", Lang.EN: "verified by X"},
    "trust.reserved": {Lang.FR: "réservé", Lang.EN: "reserved"},
    "trust.disputed": {Lang.FR: "contesté", Lang.EN: "disputed"},
    "x.disputed": {
        Lang.FR: (
            "Quelqu'un d'autre revendique aussi votre compte X @{username} avec une archive. "
            "Il est contesté : il ne sert à rien tant qu'un opérateur n'a pas tranché, ou que "
            "vous ne l'avez pas prouvé par « Se connecter avec X » (demandez-moi « lier x »)."
        ),
        Lang.EN: (
            "Someone else also claims your X account @{username} with an archive. It is "
            "disputed: it is used for nothing until an operator settles it, or you prove it "
            "with “Sign in with X” (ask me “link x”)."
        ),
    },
    "x.disputed_verified": {
        Lang.FR: (
            "X a confirmé le compte X @{username} à deux personnes ici, dont vous. Rien n'a "
            "bougé : il reste à qui X l'a confirmé d'abord, et il est contesté (il ne sert à "
            "rien) jusqu'à ce qu'un opérateur tranche. Si vous vous êtes connecté depuis un "
            "lien qui n'était pas le vôtre, dites-le aux opérateurs."
        ),
        Lang.EN: (
            "X confirmed the X account @{username} to two people here, you among them. "
            "Nothing moved: it stays with whom X confirmed it to first, and it is disputed "
            "(used for nothing) until an operator settles it. If you signed in from a link "
            "that was not yours, tell the operators."
        ),
    },
    "x.superseded": {
        Lang.FR: (
            "X a confirmé à quelqu'un d'autre qu'il est @{username} : ce compte X n'est plus "
            "relié à vous, et ce que votre archive en disait est effacé."
        ),
        Lang.EN: (
            "X confirmed to someone else that they are @{username}: that X account is no "
            "longer linked to you, and what your archive said of it is erased."
        ),
    },
    "x.settled_won": {
        Lang.FR: "Un opérateur a tranché : le compte X contesté est à vous.",
        Lang.EN: "An operator settled it: the disputed X account is yours.",
    },
    "x.settled_lost": {
        Lang.FR: "Un opérateur a tranché : le compte X contesté n'est pas relié à vous.",
        Lang.EN: "An operator settled it: the disputed X account is not linked to you.",
    },
    "link.missing": {
        Lang.FR: (
            "Dites-moi quel compte relier, par exemple : « lier alice@piaille.fr » ou "
            "« lier alice.bsky.social »."
        ),
        Lang.EN: (
            "Tell me which account to link, for example: “link alice@mastodon.social” or "
            "“link alice.bsky.social”."
        ),
    },
    "link.unreadable": {
        Lang.FR: "Je ne reconnais pas « {text} » comme un compte Bluesky ou Mastodon.",
        Lang.EN: "I don't recognise “{text}” as a Bluesky or Mastodon account.",
    },
    "link.same_network": {
        Lang.FR: (
            "{handle} est sur le même réseau que ce compte : nommez votre compte sur l'autre "
            "réseau."
        ),
        Lang.EN: "{handle} is on this same network: name your account on the other network.",
    },
    "link.no_bot": {
        Lang.FR: "Ce service n'a pas de bot sur {network} : je ne peux pas y vérifier un compte.",
        Lang.EN: "This service has no bot on {network}: I can't check an account there.",
    },
    "link.not_found": {
        Lang.FR: "Je ne trouve pas {handle} sur {network}. Vérifiez l'orthographe ?",
        Lang.EN: "I can't find {handle} on {network}. Is it spelled right?",
    },
    "link.unreachable": {
        Lang.FR: "Je n'arrive pas à joindre {network} pour l'instant : réessayez plus tard.",
        Lang.EN: "I can't reach {network} right now: please try again later.",
    },
    "link.already": {
        Lang.FR: "{handle} est déjà relié à ce compte.",
        Lang.EN: "{handle} is already linked to this account.",
    },
    "link.x_closed": {
        Lang.FR: "Ce service ne reçoit pas d'archives X.",
        Lang.EN: "This service does not take X archives.",
    },
    "x.challenge": {
        Lang.FR: (
            "Pour prouver que @{username} sur X est à vous, publiez sur X depuis ce compte ce "
            "code : {code} (valable 24 h), puis envoyez-moi le lien du post."
        ),
        Lang.EN: (
            "To prove @{username} on X is yours, post this code on X from that account: {code} "
            "(valid 24 h), then send me the post's link."
        ),
    },
    "x.already": {
        Lang.FR: "@{username} sur X est déjà prouvé.",
        Lang.EN: "@{username} on X is proven already.",
    },
    "x.closed": {
        Lang.FR: "Ce service ne vérifie pas les posts sur X.",
        Lang.EN: "This service does not check posts on X.",
    },
    "x.unreadable": {
        Lang.FR: "Je n'arrive pas à lire ce post sur X : {reason}.",
        Lang.EN: "I can't read that post on X: {reason}.",
    },
    "x.no_code": {
        Lang.FR: "Ce post sur X ne contient pas de code : demandez-en un avec « lier x ».",
        Lang.EN: "That post on X holds no code: ask me for one with “link x”.",
    },
    "x.not_yours": {
        Lang.FR: "Ce post est de @{author} sur X, pas d'un compte X relié au vôtre.",
        Lang.EN: "That post is by @{author} on X, not by an X account linked to yours.",
    },
    "x.proven": {
        Lang.FR: (
            "C'est fait : votre post prouve que vous teniez @{username} sur X. (Seul « Se "
            "connecter avec X » prouve le compte lui-même.)"
        ),
        Lang.EN: (
            "Done: your post proves you held @{username} on X. (Only “Sign in with X” proves "
            "the account itself.)"
        ),
    },
    "link.x_sent": {
        Lang.FR: "Je vous ai envoyé en message privé un lien pour importer votre archive X.",
        Lang.EN: "I've sent you a private message with a link to upload your X archive.",
    },
    "link.x_link": {
        Lang.FR: (
            "Votre lien personnel pour importer votre archive X (le fichier .zip que X vous "
            "envoie), valable 24 h et une seule fois : {url} Ne le partagez pas."
        ),
        Lang.EN: (
            "Your own link to upload your X archive (the .zip file X sends you), valid 24 h "
            "and once: {url} Don't share it."
        ),
    },
    "link.closed": {
        Lang.FR: "Relier des comptes n'est pas ouvert sur ce service.",
        Lang.EN: "Linking accounts is not open on this service.",
    },
    "link.challenge": {
        Lang.FR: (
            "Pour prouver que {handle} est à vous, publiez depuis ce compte ce message tel quel "
            "(valable 24 h) :\n{ready}"
        ),
        Lang.EN: "To prove {handle} is yours, post this from it as it is (valid 24 h):\n{ready}",
    },
    "link.to_post": {
        Lang.FR: "{bot} je relie ce compte à {asker} ({network}) : {code}",
        Lang.EN: "{bot} I link this account to {asker} ({network}): {code}",
    },
    "proof.unnamed": {
        Lang.FR: (
            "Ce message ne dit pas à quel compte vous reliez celui-ci : publiez le message "
            "donné avec le code, tel quel."
        ),
        Lang.EN: (
            "This post doesn't say which account you link this one to: post the message that "
            "came with the code, as it is."
        ),
    },
    "proof.left_apart": {
        Lang.FR: (
            "C'est fait : ce compte est relié à {first}. Vos autres comptes ({others}) restent "
            "à part : qui tient {first} les verrait et pourrait les effacer. Si {first} est "
            "aussi à vous, répondez « réunir » d'ici 24 h."
        ),
        Lang.EN: (
            "Done: this account is linked to {first}. Your other accounts ({others}) stay "
            "apart: whoever holds {first} would see them and could erase them. If {first} is "
            "yours too, answer “join” within 24 h."
        ),
    },
    "join.done": {
        Lang.FR: "C'est fait : vos comptes sont réunis : {accounts}.",
        Lang.EN: "Done: your accounts are together: {accounts}.",
    },
    "join.nothing": {
        Lang.FR: "Il n'y a rien à réunir : aucun compte n'attend votre accord.",
        Lang.EN: "There is nothing to join: no account is waiting for your word.",
    },
    "proof.linked": {
        Lang.FR: "C'est fait : {first} et {second} sont reliés.",
        Lang.EN: "Done: {first} and {second} are now linked.",
    },
    "proof.expired": {
        Lang.FR: "Ce code a expiré : demandez-en un nouveau avec « lier ».",
        Lang.EN: "This code has expired: ask for a new one with “link”.",
    },
    "proof.forged": {
        Lang.FR: (
            "Ce code ne vaut pas pour ce compte : publiez-le depuis le compte nommé dans la "
            "demande, sans le modifier."
        ),
        Lang.EN: (
            "This code isn't valid for this account: post it, unchanged, from the account "
            "named in the request."
        ),
    },
    "proof.used": {
        Lang.FR: "Ce code a déjà servi : demandez-en un nouveau avec « lier ».",
        Lang.EN: "This code was already used: ask for a new one with “link”.",
    },
    "proof.malformed": {
        Lang.FR: "Ce code est incomplet : copiez-le à nouveau en entier.",
        Lang.EN: "This code is incomplete: copy it again in full.",
    },
    "proof.edited": {
        Lang.FR: "Un message modifié ne prouve rien : publiez le code dans un nouveau message.",
        Lang.EN: "An edited post proves nothing: post the code in a new post.",
    },
    "status.alone": {
        Lang.FR: "Aucun autre compte n'est relié à {handle}. Pour en relier un : « lier COMPTE ».",
        Lang.EN: "No other account is linked to {handle}. To link one: “link ACCOUNT”.",
    },
    "status.linked": {
        Lang.FR: "Comptes reliés : {accounts}.",
        Lang.EN: "Linked accounts: {accounts}.",
    },
    "status.account": {
        Lang.FR: "{handle} ({network}, {trust})",
        Lang.EN: "{handle} ({network}, {trust})",
    },
    "next.before.bluesky": {
        Lang.FR: (
            "La reconnexion commence le {date} : je vous enverrai ici un pack de démarrage de "
            "vos contacts de X retrouvés sur Bluesky."
        ),
        Lang.EN: (
            "Reconnection starts on {date}: I'll send you here a starter pack of your X "
            "contacts found on Bluesky."
        ),
    },
    "next.after.bluesky": {
        Lang.FR: "La reconnexion a commencé : vos contacts de X retrouvés arrivent ici.",
        Lang.EN: "Reconnection has started: your X contacts found here will come shortly.",
    },
    "next.before.mastodon": {
        Lang.FR: (
            "La reconnexion commence le {date} : je vous écrirai vos contacts de X retrouvés "
            "dans cette conversation. Gardez-la : Mastodon masque les messages privés des "
            "comptes que vous ne suivez pas, sauf dans vos conversations."
        ),
        Lang.EN: (
            "Reconnection starts on {date}: I'll write your X contacts found here in this "
            "conversation. Keep it: Mastodon hides private mentions from accounts you don't "
            "follow, except in your own conversations."
        ),
    },
    "next.after.mastodon": {
        Lang.FR: (
            "La reconnexion a commencé : vos contacts de X retrouvés arrivent dans cette "
            "conversation. Gardez-la."
        ),
        Lang.EN: (
            "Reconnection has started: your X contacts found here come in this "
            "conversation. Keep it."
        ),
    },
    "pack.own": {Lang.FR: "Mes contacts de X", Lang.EN: "My X contacts"},
    "pack.own_about": {
        Lang.FR: "Mes contacts de X retrouvés ici par HelloQuitteX.",
        Lang.EN: "My contacts from X, found here by HelloQuitteX.",
    },
    "pack.shared": {Lang.FR: "Très suivis sur X", Lang.EN: "Widely followed on X"},
    "pack.shared_about": {
        Lang.FR: "Les comptes que beaucoup de personnes de HelloQuitteX suivaient sur X.",
        Lang.EN: "Accounts many HelloQuitteX people followed on X.",
    },
    "suggest.first": {
        Lang.FR: "La reconnexion a commencé : {count} de vos contacts de X sont sur {network}.",
        Lang.EN: "Reconnection has started: {count} of your X contacts are on {network}.",
    },
    "suggest.first.one": {
        Lang.FR: "La reconnexion a commencé : 1 de vos contacts de X est sur {network}.",
        Lang.EN: "Reconnection has started: 1 of your X contacts is on {network}.",
    },
    "suggest.new": {
        Lang.FR: "{count} de vos contacts de X ont rejoint {network} depuis.",
        Lang.EN: "{count} of your X contacts joined {network} since.",
    },
    "suggest.new.one": {
        Lang.FR: "1 de vos contacts de X a rejoint {network} depuis.",
        Lang.EN: "1 of your X contacts joined {network} since.",
    },
    "suggest.pack": {
        Lang.FR: "Ils sont dans votre pack de démarrage ({count}) : {url}",
        Lang.EN: "They are in your starter pack ({count}): {url}",
    },
    "suggest.pack.one": {
        Lang.FR: "Il est dans votre pack de démarrage : {url}",
        Lang.EN: "They are in your starter pack: {url}",
    },
    "suggest.shared": {
        Lang.FR: "{count} sont dans ce pack de comptes très suivis sur X : {url}",
        Lang.EN: "{count} are in this pack of accounts many followed on X: {url}",
    },
    "suggest.pack_more": {
        Lang.FR: "Et {count} dans ce pack : {url}",
        Lang.EN: "And {count} in this pack: {url}",
    },
    "suggest.follow": {
        Lang.FR: "Suivez-les (cherchez ces adresses sur votre serveur) :",
        Lang.EN: "Follow them (search for these addresses on your server):",
    },
    "suggest.bridge": {
        Lang.FR: ("Sur l'autre réseau, par le pont Bridgy Fed (seulement s'ils l'ont activé) :"),
        Lang.EN: "On the other network, through the Bridgy Fed bridge (only if they opted in):",
    },
    "suggest.csv": {
        Lang.FR: (
            "Tout suivre d'un coup : téléchargez la liste ici (lien personnel, 7 jours) puis "
            "importez-la dans Préférences > Importation et exportation : {url}"
        ),
        Lang.EN: (
            "Follow them all at once: download the list here (a personal link, 7 days), then "
            "import it in Preferences > Import and export: {url}"
        ),
    },
    "suggest.more": {
        Lang.FR: "… et {count} de plus, tous dans la liste.",
        Lang.EN: "… and {count} more, all in the list.",
    },
    "suggest.packs_left": {Lang.FR: "{count} autres packs", Lang.EN: "{count} more packs"},
    "suggest.packs_left.one": {Lang.FR: "1 autre pack", Lang.EN: "1 more pack"},
    "suggest.addresses_left": {Lang.FR: "{count} adresses", Lang.EN: "{count} addresses"},
    "suggest.addresses_left.one": {Lang.FR: "1 adresse", Lang.EN: "1 address"},
    "suggest.rest_in_space": {
        Lang.FR: "… et {packs}, tous dans votre espace : écrivez-moi « {command} ».",
        Lang.EN: "… and {packs}, all in your space: write me “{command}”.",
    },
    "suggest.rest_in_space.addresses": {
        Lang.FR: "… et {packs} et {addresses}, tous dans votre espace : écrivez-moi « {command} ».",
        Lang.EN: "… and {packs} and {addresses}, all in your space: write me “{command}”.",
    },
    "suggest.more_space": {
        Lang.FR: "… et {count} de plus, tous dans votre espace : écrivez-moi « {command} ».",
        Lang.EN: "… and {count} more, all in your space: write me “{command}”.",
    },
    "failed": {
        Lang.FR: (
            "Désolé, je n'ai pas pu traiter ce message (référence {ref}). Réessayez plus tard ; "
            "si cela se répète, donnez cette référence aux opérateurs du service."
        ),
        Lang.EN: (
            "Sorry, I could not handle this post (reference {ref}). Try again later; if it "
            "happens again, give this reference to the service's operators."
        ),
    },
    "throttled": {
        Lang.FR: (
            "Vous m'écrivez beaucoup : je vous répondrai de nouveau dans quelques minutes. Merci "
            "de votre patience !"
        ),
        Lang.EN: (
            "You're writing to me a lot: I'll answer again in a few minutes. Thank you for your "
            "patience!"
        ),
    },
}


def say(key: str, lang: Lang, **values: object) -> str:
    """The text ``key`` in ``lang``, with ``values`` filled in."""
    return CATALOG[key][lang].format(**values)
