"""The portal's words for the media's pages (the share button, an outlet's invitation
page and its own page, the directory), in French and English: merged into
:data:`hqx.web.texts.TEXTS`."""

from __future__ import annotations

MEDIA_TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "share_title": "Partager sur Bluesky ou le fédivers",
        "share_bluesky": "Partager sur Bluesky",
        "share_fediverse": (
            "Ou sur votre serveur du fédivers (Mastodon, GoToSocial, Akkoma, Misskey…)"
        ),
        "share_server": "Votre serveur",
        "share_server_note": (
            "Son nom (mastodon.social) ou votre adresse (@vous@mastodon.social)."
        ),
        "share_remember": "Se souvenir de mon serveur sur ce navigateur",
        "share_go": "Partager sur mon serveur",
        "share_privacy": (
            "Nous comptons les partages par média et par jour, rien d'autre : ni qui vous êtes, "
            "ni ce que vous partagez. Votre serveur n'est gardé que dans votre navigateur, "
            "si vous le demandez."
        ),
        "share_elsewhere": "Ce partage ne vient pas de la page de partage : rien n'est parti.",
        "share_paced": "Trop de partages depuis votre adresse : réessayez dans {seconds} s.",
        "share_copy_title": "Votre message pour {server}",
        "share_copy_intro": (
            "{server} fonctionne avec {software}, qui n'a pas de page pour recevoir un message "
            "tout prêt : copiez-le, puis collez-le dans votre application."
        ),
        "share_copy_label": "Votre message",
        "share_copy_open": "Ouvrir {server}",
        "join_unknown": "Aucun média de ce nom n'invite ici.",
        "join_no_bot": "Ce réseau n'a pas de bot ici : choisissez-en un autre.",
        "join_title": "{name} vous invite à quitter X",
        "join_intro": (
            "{name} quitte X pour Bluesky et Mastodon. Retrouvez-y ses comptes, et vos "
            "propres abonnements et abonnés de X, grâce à HelloQuitteX."
        ),
        "join_accounts": "Ses comptes, prouvés ici",
        "join_steps": "En trois étapes",
        "join_step_bot": (
            "Écrivez au bot sur chaque réseau où vous êtes : il relie vos comptes en vous "
            "demandant d'y publier un code."
        ),
        "join_start": "Écrire au bot sur {network}",
        "join_step_archive": (
            "Demandez votre archive à X (Paramètres > Votre compte > Télécharger une archive "
            "de vos données ; X met jusqu'à quelques jours à la préparer), puis demandez au "
            "bot « lier x » : il vous envoie en privé le lien pour la déposer. Seuls les "
            "identifiants de vos abonnements et abonnés sont gardés."
        ),
        "join_step_cutover": "Le {day}, le bot vous reconnecte à ceux qui sont déjà là.",
        "join_days_left": "Dans {days} jours.",
        "join_begun": "La reconnexion a commencé : vos contacts vous attendent.",
        "join_no_bots": "Aucun bot n'est encore en service ici.",
        "directory_x_button": "Votre site montre-t-il encore le bouton « partager sur X » ?",
        "x_button_unknown": "Je ne dis pas",
        "x_button_removed": "Non, nous l'avons retiré",
        "x_button_shown": "Oui, encore",
        "outlet_open": "Les outils de votre média",
        "outlet_not_listed": "Cette page est celle d'un média approuvé de l'annuaire.",
        "outlet_title": "Les outils du média : {name}",
        "outlet_button_title": "Votre bouton de partage, à la place de celui de X",
        "outlet_button_intro": (
            "Collez ce code là où était le bouton de X. Vos modèles de page y mettent l'adresse "
            "et le titre de chaque article (encodés pour une URL) à la place de ARTICLE_URL et "
            "ARTICLE_TITLE. Ni script ni pisteur : vos lecteurs choisissent Bluesky ou leur "
            "serveur, et chaque partage vous est compté, rien d'autre."
        ),
        "outlet_invite_title": "Inviter votre public",
        "outlet_invite_intro": "Votre page d'invitation, à partager partout :",
        "outlet_download_text": "Texte prêt à publier sur {network}",
        "outlet_download_image": "Image prête à publier",
        "outlet_counted": "Compté pour vous",
        "tally_share": "Partages depuis votre bouton",
        "tally_invitation": "Personnes parties de votre page d'invitation",
        "invitation_post": (
            "{opening} Retrouvez-nous sur Bluesky et Mastodon, avec vos contacts de X : "
            "écrivez à {bot}, déposez votre archive X, et le {day} vous serez reconnecté·e. "
            "{link}"
        ),
        "invitation_opening": "{name} quitte X.",
        "invitation_we": "Nous quittons X.",
        "invitation_step_bot": "1. Écrivez au bot : {bots}",
        "invitation_step_archive": "2. Déposez votre archive X",
        "invitation_step_day": "3. Le {day}, retrouvez vos contacts",
        "audience_title": "Votre public qui revient",
        "audience_on_x": "Vos abonnés sur X (selon votre archive)",
        "audience_here": "Déjà ici",
        "audience_here_on": "Dont sur {network}",
        "audience_reconnected": "Reconnectés à vous",
        "audience_channel_packs": "Par un pack de démarrage ou une liste",
        "audience_channel_suggestions": "Par une suggestion",
        "audience_channel_follows": "Par un abonnement fait pour eux",
        "audience_channel_already": "Qui vous suivaient déjà",
        "audience_awaited": "Encore attendus",
        "audience_note": (
            "Des nombres seulement : vous ne voyez jamais qui. Les reconnexions se comptent par "
            "personne et par réseau."
        ),
        "audience_counted_at": "Comptés le {at} (UTC), de nouveau toutes les dix minutes.",
        "audience_chart": "Jour après jour, du {first} au {last}",
        "audience_line_here": "Abonnés déjà ici",
        "audience_line_reconnected": "Reconnectés",
        "audience_line_shares": "Partages du jour",
        "audience_line_invitations": "Invitations du jour",
        "audience_table": "Les mêmes chiffres en tableau",
        "audience_day": "Jour",
        "audience_csv": "Télécharger les chiffres de chaque jour (CSV)",
        "media_intro": (
            "Les médias et organisations qui soutiennent l'opération : où ils en sont avec X, "
            "s'ils ont retiré le bouton « partager sur X » de leur site (selon eux), leurs "
            "comptes prouvés ici, et leur page d'invitation."
        ),
        "media_description": (
            "Les médias et organisations qui quittent X avec HelloQuitteX : où ils en sont, "
            "leurs comptes sur Bluesky et Mastodon, leur page d'invitation."
        ),
        "media_filter_status": "Où ils en sont",
        "media_filter_button": "Le bouton de X sur leur site",
        "media_all": "Tous",
        "media_sort": "Trier par",
        "media_sort_name": "Nom",
        "media_sort_status": "Avancement (partis d'abord)",
        "media_sort_since": "Arrivée (les derniers d'abord)",
        "media_apply": "Afficher",
        "media_count": "{shown} sur {total}",
        "media_name": "Nom",
        "media_status": "Avec X",
        "media_button": "Bouton de X",
        "media_accounts": "Comptes",
        "media_button_removed": "Retiré",
        "media_button_shown": "Encore là",
        "media_button_unknown": "Non dit",
    },
    "en": {
        "share_title": "Share on Bluesky or the fediverse",
        "share_bluesky": "Share on Bluesky",
        "share_fediverse": ("Or on your fediverse server (Mastodon, GoToSocial, Akkoma, Misskey…)"),
        "share_server": "Your server",
        "share_server_note": ("Its name (mastodon.social) or your address (@you@mastodon.social)."),
        "share_remember": "Remember my server in this browser",
        "share_go": "Share on my server",
        "share_privacy": (
            "We count shares per outlet and per day, nothing else: not who you are, nor what "
            "you share. Your server is kept in your browser only, if you ask."
        ),
        "share_elsewhere": "This share does not come from the share page: nothing was sent.",
        "share_paced": "Too many shares from your address: try again in {seconds} s.",
        "share_copy_title": "Your post for {server}",
        "share_copy_intro": (
            "{server} runs {software}, which has no page that takes a post ready-made: copy "
            "it, then paste it in your app."
        ),
        "share_copy_label": "Your post",
        "share_copy_open": "Open {server}",
        "join_unknown": "No outlet of this name invites people here.",
        "join_no_bot": "That network has no bot here: choose another.",
        "join_title": "{name} invites you to leave X",
        "join_intro": (
            "{name} is leaving X for Bluesky and Mastodon. Find its accounts there, and your "
            "own followings and followers from X, with HelloQuitteX."
        ),
        "join_accounts": "Its accounts, proven here",
        "join_steps": "In three steps",
        "join_step_bot": (
            "Write to the bot on each network you are on: it links your accounts by asking "
            "you to post a code there."
        ),
        "join_start": "Write to the bot on {network}",
        "join_step_archive": (
            "Ask X for your archive (Settings > Your account > Download an archive of your "
            'data; X takes up to a few days to prepare it), then ask the bot "link x": it '
            "sends you privately the link to upload it. Only the ids of your followings and "
            "followers are kept."
        ),
        "join_step_cutover": "On {day}, the bot reconnects you with those already here.",
        "join_days_left": "In {days} days.",
        "join_begun": "The reconnection has begun: your contacts are waiting for you.",
        "join_no_bots": "No bot is in service here yet.",
        "directory_x_button": 'Does your site still show X\'s "share on X" button?',
        "x_button_unknown": "I'd rather not say",
        "x_button_removed": "No, we removed it",
        "x_button_shown": "Yes, still",
        "outlet_open": "Your outlet's tools",
        "outlet_not_listed": "This page is an approved outlet's of the directory.",
        "outlet_title": "{name}'s tools",
        "outlet_button_title": "Your share button, in place of X's",
        "outlet_button_intro": (
            "Paste this code where X's button was. Your page templates put each article's "
            "address and title (URL-encoded) in place of ARTICLE_URL and ARTICLE_TITLE. No "
            "script, no tracker: your readers choose Bluesky or their server, and each share "
            "is counted for you, nothing else."
        ),
        "outlet_invite_title": "Invite your audience",
        "outlet_invite_intro": "Your invitation page, to share everywhere:",
        "outlet_download_text": "Text ready to post on {network}",
        "outlet_download_image": "Image ready to post",
        "outlet_counted": "Counted for you",
        "tally_share": "Shares from your button",
        "tally_invitation": "People who set off from your invitation page",
        "invitation_post": (
            "{opening} Find us on Bluesky and Mastodon, with your contacts from X: "
            "write to {bot}, upload your X archive, and on {day} you will be reconnected. "
            "{link}"
        ),
        "invitation_opening": "{name} is leaving X.",
        "invitation_we": "We are leaving X.",
        "invitation_step_bot": "1. Write to the bot: {bots}",
        "invitation_step_archive": "2. Upload your X archive",
        "invitation_step_day": "3. On {day}, find your contacts again",
        "audience_title": "Your audience coming back",
        "audience_on_x": "Your followers on X (as your archive listed them)",
        "audience_here": "Already here",
        "audience_here_on": "Of whom on {network}",
        "audience_reconnected": "Reconnected to you",
        "audience_channel_packs": "Through a starter pack or a list",
        "audience_channel_suggestions": "Through a suggestion",
        "audience_channel_follows": "Through a follow made for them",
        "audience_channel_already": "Who already followed you",
        "audience_awaited": "Still awaited",
        "audience_note": (
            "Numbers only: you never see who. Reconnections count once per person and network."
        ),
        "audience_counted_at": "Counted on {at} (UTC), again every ten minutes.",
        "audience_chart": "Day by day, from {first} to {last}",
        "audience_line_here": "Followers already here",
        "audience_line_reconnected": "Reconnected",
        "audience_line_shares": "Shares that day",
        "audience_line_invitations": "Invitations that day",
        "audience_table": "The same figures as a table",
        "audience_day": "Day",
        "audience_csv": "Download each day's figures (CSV)",
        "media_intro": (
            "The media and organisations supporting the operation: where they stand with X, "
            'whether they removed the "share on X" button from their site (as they say), '
            "their accounts proven here, and their invitation page."
        ),
        "media_description": (
            "The media and organisations leaving X with HelloQuitteX: where they stand, their "
            "accounts on Bluesky and Mastodon, their invitation page."
        ),
        "media_filter_status": "Where they stand",
        "media_filter_button": "X's button on their site",
        "media_all": "All",
        "media_sort": "Sort by",
        "media_sort_name": "Name",
        "media_sort_status": "Progress (those who left first)",
        "media_sort_since": "Arrival (latest first)",
        "media_apply": "Show",
        "media_count": "{shown} of {total}",
        "media_name": "Name",
        "media_status": "With X",
        "media_button": "X's button",
        "media_accounts": "Accounts",
        "media_button_removed": "Removed",
        "media_button_shown": "Still there",
        "media_button_unknown": "Not said",
    },
}
