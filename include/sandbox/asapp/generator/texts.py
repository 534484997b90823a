"""What people say in the generated conversations, per language, plus the deliberately awkward texts.

Lines are short templates filled with per-conversation details ({first}, {amount}, …), so
conversations read like support chats without storing any text per conversation.
"""

import random

LANGUAGES = {"en": "English", "es": "Spanish", "fr": "French", "de": "German", "pt": "Portuguese"}

INTENTS = ("billing", "technical", "upgrade", "cancel", "shipping")

_CUSTOMER_OPENING = {
    "en": {
        "billing": [
            "I want to pay my bill",
            "Why is my bill ${amount} this month?",
            "I was charged twice for {month}",
        ],
        "technical": [
            "My internet keeps dropping",
            "I can't make calls since this morning",
            "The app shows error {code}",
        ],
        "upgrade": [
            "I'd like to upgrade my phone",
            "Can I switch to the unlimited plan?",
            "Is the new {device} available?",
        ],
        "cancel": ["I want to cancel my service", "How do I close my account?", "Please cancel my add-on"],
        "shipping": [
            "Where is my order {order}?",
            "My package says delivered but it isn't here",
            "Can I change my delivery address?",
        ],
    },
    "es": {
        "billing": ["Quiero pagar mi factura", "¿Por qué mi factura es de ${amount} este mes?"],
        "technical": ["Mi internet se desconecta todo el tiempo", "La aplicación muestra el error {code}"],
        "upgrade": ["Quiero cambiar mi teléfono", "¿Puedo pasarme al plan ilimitado?"],
        "cancel": ["Quiero cancelar mi servicio", "¿Cómo cierro mi cuenta?"],
        "shipping": ["¿Dónde está mi pedido {order}?", "El paquete figura como entregado pero no llegó"],
    },
    "fr": {
        "billing": [
            "Je voudrais payer ma facture",
            "Pourquoi ma facture est-elle de {amount} € ce mois-ci ?",
        ],
        "technical": ["Ma connexion internet coupe sans arrêt", "L'application affiche l'erreur {code}"],
        "upgrade": ["Je voudrais changer de téléphone", "Puis-je passer au forfait illimité ?"],
        "cancel": ["Je souhaite résilier mon abonnement", "Comment fermer mon compte ?"],
        "shipping": [
            "Où en est ma commande {order} ?",
            "Le colis est indiqué livré mais je ne l'ai pas reçu",
        ],
    },
    "de": {
        "billing": [
            "Ich möchte meine Rechnung bezahlen",
            "Warum beträgt meine Rechnung diesen Monat {amount} €?",
        ],
        "technical": ["Mein Internet bricht ständig ab", "Die App zeigt den Fehler {code}"],
        "upgrade": ["Ich möchte ein neues Handy", "Kann ich in den Unlimited-Tarif wechseln?"],
        "cancel": ["Ich möchte meinen Vertrag kündigen", "Wie schließe ich mein Konto?"],
        "shipping": ["Wo ist meine Bestellung {order}?", "Das Paket gilt als zugestellt, ist aber nicht da"],
    },
    "pt": {
        "billing": ["Quero pagar minha fatura", "Por que minha fatura veio R$ {amount} este mês?"],
        "technical": ["Minha internet cai toda hora", "O aplicativo mostra o erro {code}"],
        "upgrade": ["Quero trocar de celular", "Posso mudar para o plano ilimitado?"],
        "cancel": ["Quero cancelar meu serviço", "Como encerro minha conta?"],
        "shipping": ["Onde está meu pedido {order}?", "O pacote consta como entregue mas não chegou"],
    },
}

_LINES = {
    "customer_follow": {
        "en": [
            "Yes, that's right",
            "My account number is {account}",
            "I already restarted it twice",
            "How long will that take?",
            "It started on {month} 3rd",
            "Ok, one moment",
            "Sure, go ahead",
            "The last four digits are {last4}",
            "I'm using the {device}",
            "That would be great",
        ],
        "es": [
            "Sí, correcto",
            "Mi número de cuenta es {account}",
            "Ya lo reinicié dos veces",
            "¿Cuánto tiempo tardará?",
            "Un momento, por favor",
            "Perfecto, adelante",
        ],
        "fr": [
            "Oui, c'est bien ça",
            "Mon numéro de compte est {account}",
            "Je l'ai déjà redémarré deux fois",
            "Combien de temps cela va prendre ?",
            "Un instant s'il vous plaît",
            "D'accord, allez-y",
        ],
        "de": [
            "Ja, genau",
            "Meine Kundennummer ist {account}",
            "Ich habe es schon zweimal neu gestartet",
            "Wie lange dauert das?",
            "Einen Moment bitte",
            "Okay, machen Sie ruhig",
        ],
        "pt": [
            "Sim, isso mesmo",
            "Meu número de conta é {account}",
            "Já reiniciei duas vezes",
            "Quanto tempo vai levar?",
            "Um momento, por favor",
            "Pode seguir",
        ],
    },
    "customer_close": {
        "en": ["Thanks, that's all!", "Great, thank you so much", "Perfect, have a nice day"],
        "es": ["¡Gracias, eso es todo!", "Muchas gracias"],
        "fr": ["Merci, c'est tout !", "Parfait, merci beaucoup"],
        "de": ["Danke, das war's!", "Super, vielen Dank"],
        "pt": ["Obrigado, é só isso!", "Perfeito, muito obrigado"],
    },
    "customer_upload": {
        "en": ["Here's a screenshot of the error", "I attached my bill", "Sending you the file now"],
        "es": ["Aquí está la captura del error", "Adjunto mi factura"],
        "fr": ["Voici une capture de l'erreur", "Je joins ma facture"],
        "de": ["Hier ist ein Screenshot vom Fehler", "Ich habe meine Rechnung angehängt"],
        "pt": ["Segue a captura do erro", "Anexei minha fatura"],
    },
    "customer_resume": {
        "en": ["Hi again, the problem is back", "I'm back, I tried what you said but it still fails"],
        "es": ["Hola de nuevo, el problema volvió"],
        "fr": ["Re-bonjour, le problème est revenu"],
        "de": ["Hallo nochmal, das Problem ist wieder da"],
        "pt": ["Oi de novo, o problema voltou"],
    },
    "bot_greeting": {
        "en": ["Hi! I'm the {brand} virtual assistant. How can I help you today?"],
        "es": ["¡Hola! Soy el asistente virtual de {brand}. ¿En qué puedo ayudarte?"],
        "fr": ["Bonjour ! Je suis l'assistant virtuel de {brand}. Comment puis-je vous aider ?"],
        "de": ["Hallo! Ich bin der virtuelle Assistent von {brand}. Wie kann ich helfen?"],
        "pt": ["Olá! Sou o assistente virtual da {brand}. Como posso ajudar?"],
    },
    "bot_handoff": {
        "en": [
            "I'll connect you with an agent who can help with that.",
            "Let me find someone to help you. One moment.",
        ],
        "es": ["Te comunico con un agente que puede ayudarte."],
        "fr": ["Je vous mets en relation avec un conseiller."],
        "de": ["Ich verbinde Sie mit einem Mitarbeiter."],
        "pt": ["Vou transferir você para um atendente."],
    },
    "bot_answer": {
        "en": [
            "You can see your bill in the app under Billing > Statements.",
            "I've sent a reset link to your phone.",
        ],
        "es": ["Puedes ver tu factura en la app en Facturación > Estados de cuenta."],
        "fr": ["Vous trouverez votre facture dans l'appli, rubrique Facturation."],
        "de": ["Ihre Rechnung finden Sie in der App unter Rechnungen."],
        "pt": ["Você pode ver sua fatura no app em Faturamento."],
    },
    "rep_greeting": {
        "en": [
            "Hi {first}, this is {rep} from {brand}. I'm happy to help with that.",
            "Hello {first}! Thanks for waiting, let me take a look.",
        ],
        "es": ["Hola {first}, soy {rep} de {brand}. Con gusto te ayudo."],
        "fr": ["Bonjour {first}, je suis {rep} de {brand}. Je m'en occupe."],
        "de": ["Hallo {first}, hier ist {rep} von {brand}. Ich helfe Ihnen gern."],
        "pt": ["Olá {first}, aqui é {rep} da {brand}. Vou ajudar você."],
    },
    "rep_proactive": {
        "en": [
            "Hi {first}, this is {rep} from {brand}. I see you're looking at your account, can I help "
            "with anything?",
            "Hello {first}! {rep} from {brand} here. Anything I can help you with today?",
        ],
        "es": ["Hola {first}, soy {rep} de {brand}. Veo que estás revisando tu cuenta, ¿te puedo ayudar?"],
        "fr": [
            "Bonjour {first}, je suis {rep} de {brand}. Je vois que vous consultez votre compte, puis-je "
            "vous aider ?"
        ],
        "de": [
            "Hallo {first}, hier ist {rep} von {brand}. Sie sehen sich gerade Ihr Konto an, kann ich helfen?"
        ],
        "pt": ["Olá {first}, aqui é {rep} da {brand}. Vi que você está olhando sua conta, posso ajudar?"],
    },
    "rep_follow": {
        "en": [
            "Could you confirm the last four digits of your account?",
            "Thanks, I can see the charge of ${amount}.",
            "I've reset the line on our side, please try again.",
            "I've applied a credit of ${credit} to your account.",
            "Let me check that for you.",
            "Your order {order} will arrive tomorrow.",
            "Can you tell me which device you're using?",
            "I understand, that's frustrating.",
        ],
        "es": [
            "¿Puedes confirmar los últimos cuatro dígitos de tu cuenta?",
            "Ya reinicié la línea, inténtalo de nuevo.",
            "Déjame revisarlo.",
            "Apliqué un crédito de ${credit} a tu cuenta.",
        ],
        "fr": [
            "Pouvez-vous confirmer les quatre derniers chiffres de votre compte ?",
            "J'ai réinitialisé la ligne, réessayez.",
            "Je vérifie cela pour vous.",
            "J'ai appliqué un avoir de {credit} €.",
        ],
        "de": [
            "Können Sie die letzten vier Ziffern Ihres Kontos bestätigen?",
            "Ich habe die Leitung zurückgesetzt, bitte erneut versuchen.",
            "Ich prüfe das für Sie.",
            "Ich habe Ihnen {credit} € gutgeschrieben.",
        ],
        "pt": [
            "Pode confirmar os quatro últimos dígitos da sua conta?",
            "Reiniciei a linha, tente de novo.",
            "Vou verificar para você.",
            "Apliquei um crédito de R$ {credit} na sua conta.",
        ],
    },
    "rep_close": {
        "en": ["Is there anything else I can help you with today?", "Glad I could help. Have a great day!"],
        "es": ["¿Hay algo más en lo que pueda ayudarte?"],
        "fr": ["Puis-je vous aider pour autre chose ?"],
        "de": ["Kann ich sonst noch etwas für Sie tun?"],
        "pt": ["Posso ajudar em algo mais?"],
    },
}

# Internal lines are written in the desk's working language whatever the customer speaks.
_REP_NOTES = [
    "Verified identity with account PIN.",
    "Customer eligible for loyalty credit.",
    "Escalated to tier 2, ticket {ticket}.",
    "Promised callback tomorrow morning.",
]
_REP_WHISPERS = [
    "Offer the ${credit} courtesy credit.",
    "Please check the outage map first.",
    "Wrap up soon, the queue is long.",
]

DISPOSITION_NOTES = {
    "billing": ["Customer paid bill", "Explained charges on the statement", "Refunded duplicate charge"],
    "technical": [
        "Reset line, issue resolved",
        "Opened repair ticket",
        "Walked customer through router restart",
    ],
    "upgrade": ["Upgraded plan", "Sent device options by email"],
    "cancel": ["Retention offer accepted", "Service cancelled at customer request"],
    "shipping": ["Shared tracking number", "Re-shipped order"],
}

OPEN_ISSUE_NOTES = [
    "Customer disconnected before resolution",
    "Pending follow-up with tier 2",
    "Customer will call back with account details",
]

_EMOJI_AND_MARKS = [
    "Thanks so much!! 🙏🎉 you're the best 👍🏽",
    "My family plan 👨‍👩‍👧‍👦 shows the wrong names",
    "Ça marche 😅 Zoë & Jürgen say ¡hola! (ñ, ß, ø)",
    "电话无法接通 📞, combining e\u0301 a\u0308 n\u0303 and a zero\u200bwidth space",
]
_RIGHT_TO_LEFT = [
    "مرحبا، لدي مشكلة في الفاتورة الشهرية",
    "שלום, האינטרנט לא עובד מאז הבוקר",
    "order \u200f#4521\u200f في العربية",
]


def unicode_line(rng: random.Random) -> str:
    """Emoji or combining marks together with right-to-left text: what breaks naive text handling."""
    return f"{rng.choice(_EMOJI_AND_MARKS)} — {rng.choice(_RIGHT_TO_LEFT)}"


HTML_LIKE_LINES = [
    "<script>alert('xss')</script>",
    "<b>URGENT</b> my bill is wrong",
    "Price &lt; $5 &amp; tax? <i>really</i>",
    '<img src=x onerror="alert(1)"> the app crashed',
    "</div><div class='evil'>hello</div>",
    'Use <a href="javascript:void(0)">this link</a>?',
]


def fill(template: str, details: dict) -> str:
    return template.format_map(details)


def line(rng: random.Random, kind: str, language: str, details: dict) -> str:
    return fill(rng.choice(_LINES[kind][language]), details)


def opening(rng: random.Random, language: str, intent: str, details: dict) -> str:
    return fill(rng.choice(_CUSTOMER_OPENING[language][intent]), details)


def rep_note(rng: random.Random, details: dict) -> str:
    return fill(rng.choice(_REP_NOTES), details)


def rep_whisper(rng: random.Random, details: dict) -> str:
    return fill(rng.choice(_REP_WHISPERS), details)


# -- texts of the message and value mess kinds ---------------------------------------------------

_EMPTY_TEXTS = ["", " ", "   ", "\n", " \t ", "\u00a0"]
_PADDINGS = [
    "  {text}",
    "{text}   ",
    "\t{text}",
    "{text}\u00a0",
    "{text}\n",
    "\u00a0 {text} \t",
    " {text}\n\n",
]
_SYSTEM_LINES = [
    "Conversation transferred to {rep}",
    "Customer disconnected",
    "{rep} joined the conversation",
    "Chat resumed after 10 minutes of inactivity",
    "Transcript emailed to the customer",
]
_LOG_LINES = [
    "2026-01-05 14:02:{second:02d}.{ms:03d} ERROR [modem] DOCSIS T3 timeout, channel {channel}, SNR {snr} dB",
    "2026-01-05 14:03:{second:02d}.{ms:03d} WARN  [wan] DHCP renew failed (attempt {attempt}), falling back",
    "2026-01-05 14:04:{second:02d}.{ms:03d} INFO  [wifi] client a4:{mac}:9c associated on 5 GHz, RSSI "
    "-{rssi} dBm",
    "2026-01-05 14:05:{second:02d}.{ms:03d} ERROR [voice] SIP 503 from sbc-{channel}.{brand}.example, "
    "retry in {attempt}s",
]
_NOTE_DETAILS = [
    "Customer explained the issue again in detail and asked for a written summary of every step taken so "
    "far.",
    "Checked the account history for the last six months, including past tickets, credits and plan changes.",
    "Verified identity with the last four digits and the billing address on file before discussing the "
    "account.",
    "Offered a callback from tier 2 within 48 hours; customer preferred email and confirmed the address "
    "on file.",
    "Escalation reference and case number were shared; customer was told to reply to the email to reopen it.",
    "Line test passed twice, signal levels normal; advised a modem replacement if drops continue overnight.",
]


def empty_text(rng: random.Random) -> str:
    """empty_messages: nothing, or only whitespace."""
    return rng.choice(_EMPTY_TEXTS)


def padded(rng: random.Random, text: str) -> str:
    """padded_text: leading or trailing spaces, a tab, a non-breaking space or a trailing newline."""
    return rng.choice(_PADDINGS).format(text=text)


def system_line(rng: random.Random, details: dict) -> str:
    return fill(rng.choice(_SYSTEM_LINES), {**details, "rep": details.get("rep") or "An agent"})


def very_long(rng: random.Random) -> str:
    """very_long_messages: a pasted diagnostics log of 20,000 to 60,000 characters."""
    length = rng.randint(20_000, 60_000)
    lines = ["Here is the full log from the modem page, sorry it's long:"]
    total = len(lines[0])
    while total < length:
        line = rng.choice(_LOG_LINES).format(
            second=rng.randrange(60),
            ms=rng.randrange(1000),
            channel=rng.randint(1, 32),
            snr=rng.randint(18, 40),
            attempt=rng.randint(1, 9),
            mac=f"{rng.randrange(256):02x}",
            rssi=rng.randint(40, 90),
            brand="acme",
        )
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)[:length]


def overlong_notes(rng: random.Random, notes: str | None) -> str:
    """overlong_values: disposition notes of 300 to 560 characters (over Intercom's 255 for a string
    attribute; a restated conversation adds about 40 more, staying under 600)."""
    target = rng.randint(300, 560)
    text = notes or "Follow-up needed"
    while len(text) < target:
        text = f"{text}. {rng.choice(_NOTE_DETAILS)}"
    cut = text[:target]
    return f"{cut[:-1]}." if cut.endswith(" ") else cut
