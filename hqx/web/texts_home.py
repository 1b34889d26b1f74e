"""The portal's words for the campaign's own pages (the home page, the privacy page), in
French and English: merged into :data:`hqx.web.texts.TEXTS`."""

from __future__ import annotations

HOME_TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "home_description": (
            "Quittez X sans perdre votre public : HelloQuitteX vous reconnecte sur Bluesky et "
            "Mastodon avec les personnes que vous suiviez et qui vous suivaient sur X."
        ),
        "home_lead": "Quittez X sans perdre votre public.",
        "home_what": (
            "Des milliers de personnes et de médias quittent X pour Bluesky et Mastodon. "
            "HelloQuitteX retrouve, parmi elles, celles que vous suiviez et qui vous suivaient "
            "sur X, et vous reconnecte : des kits de démarrage et des listes sur Bluesky, des "
            "suggestions sur Mastodon, et si vous le voulez, des abonnements faits pour vous."
        ),
        "home_for_media": (
            "Pour un média : retrouver massivement son public, le compter jour après jour, et "
            "remplacer le bouton « partager sur X » de son site par le nôtre."
        ),
        "home_steps": "Comment faire",
        "home_step_link": "Reliez vos comptes en écrivant au bot",
        "home_step_link_text": (
            "Sur chaque réseau où vous êtes, mentionnez le bot ou écrivez-lui. Il vous "
            "demande de publier un code : c'est la preuve que le compte est à vous."
        ),
        "home_write": "Écrire au bot sur {network}",
        "home_no_bot": (
            "Aucun bot n'est configuré sur ce service pour l'instant : son opérateur doit "
            "d'abord relier un compte Bluesky ou Mastodon. Revenez bientôt."
        ),
        "home_step_archive": "Demandez votre archive à X",
        "home_step_archive_text": (
            "Sur X : Paramètres et confidentialité > Votre compte > Télécharger une archive de "
            "vos données. X vérifie votre identité, puis vous prévient quand l'archive est "
            "prête : en général en un jour, parfois plusieurs."
        ),
        "home_step_upload": "Déposez-la par le lien privé du bot",
        "home_step_upload_text": (
            "Écrivez « lier x » au bot : il vous envoie en privé un lien où déposer le fichier "
            ".zip. Seuls les identifiants de vos abonnements et abonnés sont gardés ; "
            "l'archive elle-même est effacée."
        ),
        "home_step_choose": "Choisissez ce que vous voulez retrouver",
        "home_step_choose_text": (
            "Dans votre espace (écrivez « espace » au bot) : vos abonnements, vos abonnés ou "
            "les deux, si l'on peut vous trouver, et si le service peut s'abonner pour vous."
        ),
        "home_dates": "Les dates",
        "home_uploads_open": "Les dépôts d'archives sont ouverts dès maintenant.",
        "home_cutover_future": "La reconnexion commence le {day}, dans {days} jours.",
        "home_cutover_past": (
            "La reconnexion a commencé le {day} : chaque nouvelle personne est reconnectée "
            "dès qu'elle arrive."
        ),
        "home_figures": "Le mouvement en ce moment",
        "home_figures_more": "Tous les chiffres",
        "home_media": "Médias : trois demandes",
        "home_media_ask_list": (
            "Apparaître dans la liste des médias qui soutiennent l'opération (au moins « en "
            "réflexion »)."
        ),
        "home_media_ask_follow": "Suivre la campagne sur X, Mastodon et Bluesky.",
        "home_media_ask_button": (
            "Retirer le bouton « partager sur X » de votre site : nous vous donnons le nôtre, "
            "pour Bluesky et le fédivers, et de quoi inviter vos abonnés."
        ),
        "home_media_directory": "Voir l'annuaire des médias",
        "home_privacy": "Vos données",
        "home_privacy_text": (
            "Nous gardons le minimum : vos comptes reliés, les identifiants X de vos "
            "abonnements et abonnés (jamais l'archive, votre e-mail ni votre téléphone), et vos "
            "choix, tant que vous êtes inscrit·e ; les messages échangés avec le bot, 30 jours. "
            "Vous pouvez tout voir, tout télécharger et tout effacer depuis votre espace, ou en "
            "écrivant « oublier » au bot."
        ),
        "home_privacy_more": "Ce que nous gardons, pourquoi et combien de temps",
        "home_faq": "Questions fréquentes",
        "faq_left_q": "J'ai déjà quitté X : est-ce trop tard ?",
        "faq_left_a": (
            "Non, tant que votre compte X existe encore, vous pouvez demander votre archive. "
            "Si vous l'avez déjà téléchargée, déposez-la telle quelle."
        ),
        "faq_several_q": "J'ai plusieurs comptes : comment faire ?",
        "faq_several_a": (
            "Reliez-les : depuis l'un d'eux, écrivez au bot « lier » suivi de l'autre compte ; "
            "il vous demande d'y publier un code. Vos comptes forment alors une seule personne."
        ),
        "faq_change_q": "Et si je change d'avis ?",
        "faq_change_a": (
            "Écrivez « stop » au bot pour tout arrêter, « réglages » pour changer vos choix, "
            "« oublier » pour tout effacer. Les abonnements déjà faits restent les vôtres."
        ),
        "faq_contacts_q": "Que voient mes contacts ?",
        "faq_contacts_a": (
            "Ceux qui vous suivaient sur X vous trouvent dans leurs suggestions et leurs "
            "kits, si vous avez accepté d'être trouvé. Personne ne voit votre archive ni "
            "vos autres contacts."
        ),
        "privacy_title": "Vos données et la vie privée",
        "privacy_description": (
            "Ce que HelloQuitteX garde, pourquoi, combien de temps, qui le voit, et comment "
            "le voir et l'effacer."
        ),
    },
    "en": {
        "home_description": (
            "Leave X without losing your audience: HelloQuitteX reconnects you on Bluesky and "
            "Mastodon with the people you followed and who followed you on X."
        ),
        "home_lead": "Leave X without losing your audience.",
        "home_what": (
            "Thousands of people and media outlets are leaving X for Bluesky and Mastodon. "
            "HelloQuitteX finds, among them, those you followed and who followed you on X, "
            "and reconnects you: starter packs and lists on Bluesky, suggestions on Mastodon, "
            "and if you want, follows made for you."
        ),
        "home_for_media": (
            "For a media outlet: find its audience again, massively, count it day by day, and "
            'replace the "share on X" button of its site with ours.'
        ),
        "home_steps": "How it works",
        "home_step_link": "Link your accounts by writing to the bot",
        "home_step_link_text": (
            "On each network you are on, mention the bot or write to it. It asks you to post "
            "a code: that proves the account is yours."
        ),
        "home_write": "Write to the bot on {network}",
        "home_no_bot": (
            "No bot is configured on this service yet: its operator must first connect a "
            "Bluesky or Mastodon account. Come back soon."
        ),
        "home_step_archive": "Ask X for your archive",
        "home_step_archive_text": (
            "On X: Settings and privacy > Your account > Download an archive of your data. X "
            "checks it is you, then tells you when the archive is ready: usually within a "
            "day, sometimes several."
        ),
        "home_step_upload": "Upload it through the bot's private link",
        "home_step_upload_text": (
            'Write "link x" to the bot: it sends you privately a link where to drop the .zip '
            "file. Only the ids of your followings and followers are kept; the archive itself "
            "is erased."
        ),
        "home_step_choose": "Choose what to find again",
        "home_step_choose_text": (
            'In your space (write "space" to the bot): your followings, your followers or '
            "both, whether you can be found, and whether the service may follow for you."
        ),
        "home_dates": "The dates",
        "home_uploads_open": "Archive uploads are open now.",
        "home_cutover_future": "The reconnection starts on {day}, in {days} days.",
        "home_cutover_past": (
            "The reconnection started on {day}: each newcomer is reconnected as soon as they "
            "arrive."
        ),
        "home_figures": "The movement right now",
        "home_figures_more": "All the figures",
        "home_media": "Media: three asks",
        "home_media_ask_list": (
            'Appear in the list of media supporting the operation (at least "considering").'
        ),
        "home_media_ask_follow": "Follow the campaign on X, Mastodon and Bluesky.",
        "home_media_ask_button": (
            'Remove the "share on X" button from your site: we give you ours, for Bluesky '
            "and the fediverse, and what you need to invite your audience."
        ),
        "home_media_directory": "See the media directory",
        "home_privacy": "Your data",
        "home_privacy_text": (
            "We keep the minimum: your linked accounts, the X ids of your followings and "
            "followers (never the archive, your e-mail or your phone), and your choices, while "
            "you are signed up; the messages exchanged with the bot, 30 days. You can see, "
            'download and erase all of it from your space, or by writing "forget" to the bot.'
        ),
        "home_privacy_more": "What we keep, why, and for how long",
        "home_faq": "Questions",
        "faq_left_q": "I already left X: is it too late?",
        "faq_left_a": (
            "No: as long as your X account still exists, you can ask for your archive. If you "
            "downloaded it already, upload it as it is."
        ),
        "faq_several_q": "I have several accounts: what do I do?",
        "faq_several_a": (
            'Link them: from one of them, write to the bot "link" followed by the other '
            "account; it asks you to post a code there. Your accounts then make one person."
        ),
        "faq_change_q": "What if I change my mind?",
        "faq_change_a": (
            'Write "stop" to the bot to stop everything, "settings" to change your '
            'choices, "forget" to erase everything. Follows already made stay yours.'
        ),
        "faq_contacts_q": "What do my contacts see?",
        "faq_contacts_a": (
            "Those who followed you on X find you in their suggestions and packs, if you "
            "agreed to be found. Nobody sees your archive or your other contacts."
        ),
        "privacy_title": "Your data and privacy",
        "privacy_description": (
            "What HelloQuitteX keeps, why, for how long, who sees it, and how to see it and "
            "erase it."
        ),
    },
}
