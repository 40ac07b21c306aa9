"""The page's words in English and French. A key missing in a language falls back to English, and a key
missing everywhere shows as itself (a test checks both catalogues have the same keys)."""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("en", "fr")

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "title": "Operators' dashboard", "now": "Now", "flow": "Flow", "patterns": "Patterns", "audit": "Audit log",
        "sign_in": "Sign in", "sign_out": "Sign out", "user": "User", "password": "Password",
        "bad_login": "Unknown user or wrong password.", "signed_in_as": "Signed in as",
        "filters": "Filters", "range": "Time range", "urgency": "Urgency", "country": "Country of work",
        "partner": "Partner", "category": "Category", "any": "any", "apply": "Apply", "clear": "Clear",
        "last_24h": "last 24 hours", "last_7d": "last 7 days", "last_30d": "last 30 days",
        "open_alerts": "Open operator alerts", "no_alerts": "No open alerts.", "acknowledge": "Acknowledge",
        "unacked_cases": "Critical and high cases not yet acknowledged by a partner",
        "no_unacked": "None: every critical and high case has been acknowledged.",
        "breaches": "SLA breaches", "no_breaches": "No breaches.", "due_soon": "About to breach",
        "time_left": "time left", "nothing_due": "Nothing due in the next 4 hours.",
        "dead_letters": "Dead letters", "no_dead_letters": "No dead letters.", "requeue": "Requeue",
        "requeued": "requeued", "cases": "Cases", "critical": "critical", "delivered": "delivered",
        "case": "Case", "received": "Received", "triaged": "Triaged", "routed": "Routed",
        "delivery_failed": "Delivery failed", "step": "Partner step", "sla_breached": "SLA breach",
        "alert": "Alert", "timeline": "Timeline", "summary": "Summary", "state": "State",
        "cases_per": "Cases per", "hour": "hour", "day": "day", "by": "by",
        "deliveries_per_partner": "Deliveries per partner", "failed": "failed", "gave_up": "gave up",
        "latency": "Submission to first delivery", "employers": "Employers with the most linked cases",
        "recruiters": "Recruiters with the most linked cases", "partners": "Partners", "name": "Name",
        "kind": "Kind", "message": "Message", "raised": "Raised", "topic": "Topic", "error": "Error",
        "when": "When", "action": "Action", "target": "Target", "role": "Role", "headers": "Headers",
        "value_hidden": "The record's value is not shown: it may hold a complaint and contact details.",
        "not_found": "Not found.", "forbidden": "Your role does not allow this.", "live": "Updates live",
        "recipient": "Recipient", "clock": "Clock", "deadline": "Deadline", "escalated_to": "Escalated to",
        "total": "Total", "evidence": "Evidence", "reasons": "Reasons", "excluded": "Excluded",
        "attempts": "attempts", "language": "Language", "requeue_done": "Requeued to",
        "urgency_critical": "critical", "urgency_high": "high", "urgency_medium": "medium", "urgency_low": "low",
        "consumer_lag": "Consumer lag per group", "group": "Group", "lag": "Lag",
        "partitions_behind": "Partitions behind", "no_offsets": "No committed offsets yet",
        "read_from_broker": "Read from the broker at", "lag_unknown": "The broker has not answered: lag unknown.",
        "too_many_sign_ins": "Too many failed sign-ins for this account or from this address. Try again in",
        "employer": "employer", "recruiter": "recruiter", "ilo_indicators": "ILO indicators", "final": "final",
        "kafka_partition": "partition", "kafka_offset": "offset", "consumer_group": "Consumer group",
        "event_id": "Event id", "bytes": "bytes", "skip_to_content": "Skip to the content",
        "chart_as_table": "The same figures as a table",
        "lag_refused": "The broker does not let the dashboard read the offsets of",
        "iris": "IRIS", "iris_certified": "IRIS certified", "iris_not_certified": "not IRIS certified",
        "iris_unknown_hint": "Not a recruitment agency in the partner directory", "spellings": "spellings",
        "iris_note": "IRIS status of the recruitment agencies in the published partner directory, matched by name"
                     " (spellings and legal forms folded).",
    },
    "fr": {
        "title": "Tableau de bord des opérateurs", "now": "Maintenant", "flow": "Flux", "patterns": "Tendances",
        "audit": "Journal d'audit", "sign_in": "Se connecter", "sign_out": "Se déconnecter",
        "user": "Utilisateur", "password": "Mot de passe",
        "bad_login": "Utilisateur inconnu ou mot de passe erroné.", "signed_in_as": "Connecté en tant que",
        "filters": "Filtres", "range": "Période", "urgency": "Urgence", "country": "Pays de travail",
        "partner": "Partenaire", "category": "Catégorie", "any": "tous", "apply": "Appliquer", "clear": "Effacer",
        "last_24h": "24 dernières heures", "last_7d": "7 derniers jours", "last_30d": "30 derniers jours",
        "open_alerts": "Alertes opérateur ouvertes", "no_alerts": "Aucune alerte ouverte.",
        "acknowledge": "Accuser réception",
        "unacked_cases": "Cas critiques et élevés sans accusé de réception d'un partenaire",
        "no_unacked": "Aucun : chaque cas critique ou élevé a été pris en compte.",
        "breaches": "Dépassements de délai (SLA)", "no_breaches": "Aucun dépassement.",
        "due_soon": "Sur le point de dépasser", "time_left": "temps restant",
        "nothing_due": "Rien à échéance dans les 4 prochaines heures.",
        "dead_letters": "Messages mis de côté", "no_dead_letters": "Aucun message mis de côté.",
        "requeue": "Renvoyer", "requeued": "renvoyé", "cases": "Cas", "critical": "critiques",
        "delivered": "livrés", "case": "Cas", "received": "Reçu", "triaged": "Trié", "routed": "Orienté",
        "delivery_failed": "Échec de livraison", "step": "Étape du partenaire", "sla_breached": "Délai dépassé",
        "alert": "Alerte", "timeline": "Chronologie", "summary": "Résumé", "state": "État",
        "cases_per": "Cas par", "hour": "heure", "day": "jour", "by": "par",
        "deliveries_per_partner": "Livraisons par partenaire", "failed": "échecs", "gave_up": "abandonnées",
        "latency": "De la soumission à la première livraison",
        "employers": "Employeurs liés au plus grand nombre de cas",
        "recruiters": "Recruteurs liés au plus grand nombre de cas", "partners": "Partenaires", "name": "Nom",
        "kind": "Type", "message": "Message", "raised": "Levée", "topic": "Topic", "error": "Erreur",
        "when": "Quand", "action": "Action", "target": "Cible", "role": "Rôle", "headers": "En-têtes",
        "value_hidden": "Le contenu n'est pas affiché : il peut contenir une plainte et des coordonnées.",
        "not_found": "Introuvable.", "forbidden": "Votre rôle ne le permet pas.", "live": "Mise à jour en direct",
        "recipient": "Destinataire", "clock": "Délai", "deadline": "Échéance", "escalated_to": "Transmis à",
        "total": "Total", "evidence": "Indices", "reasons": "Raisons", "excluded": "Exclus",
        "attempts": "tentatives", "language": "Langue", "requeue_done": "Renvoyé vers",
        "urgency_critical": "critique", "urgency_high": "élevée", "urgency_medium": "moyenne", "urgency_low": "faible",
        "consumer_lag": "Retard des consommateurs par groupe", "group": "Groupe", "lag": "Retard",
        "partitions_behind": "Partitions en retard", "no_offsets": "Aucun offset validé pour l'instant",
        "read_from_broker": "Lu auprès du broker à", "lag_unknown": "Le broker n'a pas répondu : retard inconnu.",
        "too_many_sign_ins": "Trop d'échecs de connexion pour ce compte ou depuis cette adresse. Réessayez dans",
        "employer": "employeur", "recruiter": "recruteur", "ilo_indicators": "indicateurs de l'OIT",
        "final": "définitif", "kafka_partition": "partition", "kafka_offset": "offset",
        "consumer_group": "Groupe de consommateurs", "event_id": "Identifiant de l'événement", "bytes": "octets",
        "skip_to_content": "Aller au contenu", "chart_as_table": "Les mêmes chiffres en tableau",
        "lag_refused": "Le broker ne laisse pas le tableau de bord lire les offsets de",
        "iris": "IRIS", "iris_certified": "certifiée IRIS", "iris_not_certified": "non certifiée IRIS",
        "iris_unknown_hint": "Pas une agence de recrutement de l'annuaire des partenaires", "spellings": "graphies",
        "iris_note": "Statut IRIS des agences de recrutement de l'annuaire publié des partenaires, rapprochées par"
                     " leur nom (graphies et formes juridiques confondues).",
    },
}


def translator(language: str) -> Callable[[str], str]:
    words = MESSAGES.get(language, MESSAGES["en"])
    return lambda key: words.get(key) or MESSAGES["en"].get(key) or key


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language if it is one we have, else the first of Accept-Language we have, else English."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(",")[:10]:
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "en"
