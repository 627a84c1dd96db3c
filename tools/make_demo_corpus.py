"""Write the small synthetic multilingual demo corpus shipped in ``veco_lightning/resources/demo``.

The corpus is composed by this script from hand-written sentence templates and hand-written lexicons;
no external text is used. Every sentence exists in six languages (en, de, fr, es, ru, zh) and line ``i``
of each file translates line ``i`` of ``en.txt`` (multi-way, line-aligned parallel text). Grammar is handled
by storing the exact inflected form each template slot needs (German articles and cases, French/Spanish
gender agreement and elision, Russian cases, numeral government and past-tense gender, Chinese measure
words) instead of inflecting words by rule.

It also writes MUSE-style bilingual dictionaries ``dict/en-xx.tsv`` (``english<TAB>translation``) whose
entries are the content words of the lexicons in the surface forms the sentences use.

Usage (from the repository root)::

    python tools/make_demo_corpus.py            # writes veco_lightning/resources/demo/
    python tools/make_demo_corpus.py --out DIR  # writes elsewhere

The output is deterministic (``random.Random(0)``): running the script twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

LANGS = ("en", "de", "fr", "es", "ru", "zh")
PARTNERS = LANGS[1:]
SEED = 0
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "veco_lightning" / "resources" / "demo"


def rows(columns: str, *values: tuple) -> list[dict]:
    """Build a lexicon table: one dict per row, keyed by the space-separated column names."""
    keys = columns.split()
    for v in values:
        assert len(v) == len(keys), (keys, v)
    return [dict(zip(keys, v)) for v in values]


# =====================================================================================================
# Lexicons. Gender codes: m / f / n. Russian forms are given in the case each slot needs.
# =====================================================================================================

# People. ru_gen: genitive (for "у Анны есть ...").
NAMES = rows(
    "en ru ru_gen zh g",
    ("Anna", "Анна", "Анны", "安娜", "f"),
    ("Maria", "Мария", "Марии", "玛丽亚", "f"),
    ("Elena", "Елена", "Елены", "埃琳娜", "f"),
    ("Sofia", "София", "Софии", "索菲亚", "f"),
    ("Laura", "Лаура", "Лауры", "劳拉", "f"),
    ("Tom", "Том", "Тома", "汤姆", "m"),
    ("David", "Давид", "Давида", "大卫", "m"),
    ("Ivan", "Иван", "Ивана", "伊万", "m"),
    ("Max", "Макс", "Макса", "马克斯", "m"),
    ("Mark", "Марк", "Марка", "马克", "m"),
)

# Family members, used with "my" / "your".
RELATIVES = rows(
    "en g de fr es ru ru_gen zh",
    ("mother", "f", "Mutter", "mère", "madre", "мать", "матери", "妈妈"),
    ("father", "m", "Vater", "père", "padre", "отец", "отца", "爸爸"),
    ("sister", "f", "Schwester", "sœur", "hermana", "сестра", "сестры", "姐姐"),
    ("brother", "m", "Bruder", "frère", "hermano", "брат", "брата", "哥哥"),
    ("grandmother", "f", "Großmutter", "grand-mère", "abuela", "бабушка", "бабушки", "奶奶"),
    ("grandfather", "m", "Großvater", "grand-père", "abuelo", "дедушка", "дедушки", "爷爷"),
    ("aunt", "f", "Tante", "tante", "tía", "тётя", "тёти", "阿姨"),
    ("uncle", "m", "Onkel", "oncle", "tío", "дядя", "дяди", "叔叔"),
    ("daughter", "f", "Tochter", "fille", "hija", "дочь", "дочери", "女儿"),
    ("son", "m", "Sohn", "fils", "hijo", "сын", "сына", "儿子"),
    ("wife", "f", "Frau", "femme", "esposa", "жена", "жены", "妻子"),
    ("husband", "m", "Mann", "mari", "marido", "муж", "мужа", "丈夫"),
)

# Cities. ru_in: "в + prepositional" (location); ru_to: "в + accusative" (direction).
CITIES = rows(
    "en de fr es ru_in ru_to zh",
    ("Berlin", "Berlin", "Berlin", "Berlín", "в Берлине", "в Берлин", "柏林"),
    ("Paris", "Paris", "Paris", "París", "в Париже", "в Париж", "巴黎"),
    ("Moscow", "Moskau", "Moscou", "Moscú", "в Москве", "в Москву", "莫斯科"),
    ("Madrid", "Madrid", "Madrid", "Madrid", "в Мадриде", "в Мадрид", "马德里"),
    ("Beijing", "Peking", "Pékin", "Pekín", "в Пекине", "в Пекин", "北京"),
    ("London", "London", "Londres", "Londres", "в Лондоне", "в Лондон", "伦敦"),
    ("Rome", "Rom", "Rome", "Roma", "в Риме", "в Рим", "罗马"),
    ("Vienna", "Wien", "Vienne", "Viena", "в Вене", "в Вену", "维也纳"),
    ("Tokyo", "Tokio", "Tokyo", "Tokio", "в Токио", "в Токио", "东京"),
    ("Lisbon", "Lissabon", "Lisbonne", "Lisboa", "в Лиссабоне", "в Лиссабон", "里斯本"),
    ("Prague", "Prag", "Prague", "Praga", "в Праге", "в Прагу", "布拉格"),
    ("Athens", "Athen", "Athènes", "Atenas", "в Афинах", "в Афины", "雅典"),
)

# Days. ru_on: "on Monday"; ru_every: "every Monday" (gender of the day name decides каждый/каждую/каждое).
DAYS = rows(
    "en de fr fr_every es es_every ru_on ru_every zh",
    ("Monday", "Montag", "lundi", "tous les lundis", "lunes", "todos los lunes",
     "в понедельник", "каждый понедельник", "星期一"),
    ("Tuesday", "Dienstag", "mardi", "tous les mardis", "martes", "todos los martes",
     "во вторник", "каждый вторник", "星期二"),
    ("Wednesday", "Mittwoch", "mercredi", "tous les mercredis", "miércoles", "todos los miércoles",
     "в среду", "каждую среду", "星期三"),
    ("Thursday", "Donnerstag", "jeudi", "tous les jeudis", "jueves", "todos los jueves",
     "в четверг", "каждый четверг", "星期四"),
    ("Friday", "Freitag", "vendredi", "tous les vendredis", "viernes", "todos los viernes",
     "в пятницу", "каждую пятницу", "星期五"),
    ("Saturday", "Samstag", "samedi", "tous les samedis", "sábado", "todos los sábados",
     "в субботу", "каждую субботу", "星期六"),
    ("Sunday", "Sonntag", "dimanche", "tous les dimanches", "domingo", "todos los domingos",
     "в воскресенье", "каждое воскресенье", "星期天"),
)

# Months. ru: prepositional after "в".
MONTHS = rows(
    "en de fr es ru zh",
    ("January", "Januar", "janvier", "enero", "январе", "一月"),
    ("February", "Februar", "février", "febrero", "феврале", "二月"),
    ("March", "März", "mars", "marzo", "марте", "三月"),
    ("April", "April", "avril", "abril", "апреле", "四月"),
    ("May", "Mai", "mai", "mayo", "мае", "五月"),
    ("June", "Juni", "juin", "junio", "июне", "六月"),
    ("July", "Juli", "juillet", "julio", "июле", "七月"),
    ("August", "August", "août", "agosto", "августе", "八月"),
    ("September", "September", "septembre", "septiembre", "сентябре", "九月"),
    ("October", "Oktober", "octobre", "octubre", "октябре", "十月"),
    ("November", "November", "novembre", "noviembre", "ноябре", "十一月"),
    ("December", "Dezember", "décembre", "diciembre", "декабре", "十二月"),
)

# Numbers 2-11. ru: (masculine/neuter form, feminine form); zh: counting form (两, not 二).
NUMBERS = rows(
    "n en de fr es ru zh",
    (2, "two", "zwei", "deux", "dos", ("два", "две"), "两"),
    (3, "three", "drei", "trois", "tres", ("три", "три"), "三"),
    (4, "four", "vier", "quatre", "cuatro", ("четыре", "четыре"), "四"),
    (5, "five", "fünf", "cinq", "cinco", ("пять", "пять"), "五"),
    (6, "six", "sechs", "six", "seis", ("шесть", "шесть"), "六"),
    (7, "seven", "sieben", "sept", "siete", ("семь", "семь"), "七"),
    (8, "eight", "acht", "huit", "ocho", ("восемь", "восемь"), "八"),
    (9, "nine", "neun", "neuf", "nueve", ("девять", "девять"), "九"),
    (10, "ten", "zehn", "dix", "diez", ("десять", "десять"), "十"),
    (11, "eleven", "elf", "onze", "once", ("одиннадцать", "одиннадцать"), "十一"),
)

# Weather. en: (present, future); de_now: (verb, predicate) for "Heute <verb> es in X <predicate>.";
# the other languages give (present, future) phrases.
WEATHER = rows(
    "en de_now de_fut fr es ru zh gloss",
    (("cold", "be cold"), ("ist", "kalt"), "kalt", ("il fait froid", "il fera froid"),
     ("hace frío", "hará frío"), ("холодно", "будет холодно"), ("很冷", "会很冷"),
     {"cold": ["kalt", "froid", "frío", "холодно", "冷"]}),
    (("warm", "be warm"), ("ist", "warm"), "warm", ("il fait chaud", "il fera chaud"),
     ("hace calor", "hará calor"), ("тепло", "будет тепло"), ("很暖和", "会很暖和"),
     {"warm": ["warm", "chaud", "calor", "тепло", "暖和"]}),
    (("hot", "be hot"), ("ist", "heiß"), "heiß", ("il fait très chaud", "il fera très chaud"),
     ("hace mucho calor", "hará mucho calor"), ("жарко", "будет жарко"), ("很热", "会很热"),
     {"hot": ["heiß", "chaud", "calor", "жарко", "热"]}),
    (("sunny", "be sunny"), ("ist", "sonnig"), "sonnig", ("il y a du soleil", "il y aura du soleil"),
     ("hace sol", "hará sol"), ("солнечно", "будет солнечно"), ("天气晴朗", "会是晴天"),
     {"sunny": ["sonnig", "soleil", "sol", "солнечно", "晴"]}),
    (("windy", "be windy"), ("ist", "windig"), "windig", ("il y a du vent", "il y aura du vent"),
     ("hace viento", "hará viento"), ("ветрено", "будет ветрено"), ("风很大", "会刮大风"),
     {"windy": ["windig", "vent", "viento", "ветрено", "风"]}),
    (("cloudy", "be cloudy"), ("ist", "bewölkt"), "bewölkt", ("le ciel est nuageux", "le ciel sera nuageux"),
     ("está nublado", "estará nublado"), ("облачно", "будет облачно"), ("多云", "多云"),
     {"cloudy": ["bewölkt", "nuageux", "nublado", "облачно", "多云"]}),
    (("foggy", "be foggy"), ("ist", "neblig"), "neblig", ("il y a du brouillard", "il y aura du brouillard"),
     ("hay niebla", "habrá niebla"), ("туман", "будет туман"), ("有雾", "会有雾"),
     {"foggy": ["neblig", "brouillard", "niebla", "туман", "雾"]}),
    (("raining", "rain"), ("regnet", ""), "regnen", ("il pleut", "il pleuvra"),
     ("llueve", "lloverá"), ("идёт дождь", "будет дождь"), ("下雨", "会下雨"),
     {"raining": ["regnet", "pleut", "llueve", "дождь", "下雨"],
      "rain": ["regnen", "pleuvra", "lloverá", "дождь", "下雨"]}),
    (("snowing", "snow"), ("schneit", ""), "schneien", ("il neige", "il neigera"),
     ("nieva", "nevará"), ("идёт снег", "будет снег"), ("下雪", "会下雪"),
     {"snowing": ["schneit", "neige", "nieva", "снег", "下雪"],
      "snow": ["schneien", "neigera", "nevará", "снег", "下雪"]}),
)

# Food liked or not liked. de_neg: with "kein"; es_pl: verb "gustan" instead of "gusta";
# ru: accusative; zh_v: 吃 (eat) or 喝 (drink).
FOODS = rows(
    "en de de_neg fr es es_pl ru zh_v zh",
    ("apples", "Äpfel", "keine Äpfel", "les pommes", "las manzanas", True, "яблоки", "吃", "苹果"),
    ("bread", "Brot", "kein Brot", "le pain", "el pan", False, "хлеб", "吃", "面包"),
    ("cheese", "Käse", "keinen Käse", "le fromage", "el queso", False, "сыр", "吃", "奶酪"),
    ("fish", "Fisch", "keinen Fisch", "le poisson", "el pescado", False, "рыбу", "吃", "鱼"),
    ("rice", "Reis", "keinen Reis", "le riz", "el arroz", False, "рис", "吃", "米饭"),
    ("soup", "Suppe", "keine Suppe", "la soupe", "la sopa", False, "суп", "喝", "汤"),
    ("coffee", "Kaffee", "keinen Kaffee", "le café", "el café", False, "кофе", "喝", "咖啡"),
    ("tea", "Tee", "keinen Tee", "le thé", "el té", False, "чай", "喝", "茶"),
    ("chocolate", "Schokolade", "keine Schokolade", "le chocolat", "el chocolate", False, "шоколад", "吃", "巧克力"),
    ("tomatoes", "Tomaten", "keine Tomaten", "les tomates", "los tomates", True, "помидоры", "吃", "西红柿"),
    ("cake", "Kuchen", "keinen Kuchen", "le gâteau", "el pastel", False, "торт", "吃", "蛋糕"),
    ("milk", "Milch", "keine Milch", "le lait", "la leche", False, "молоко", "喝", "牛奶"),
    ("eggs", "Eier", "keine Eier", "les œufs", "los huevos", True, "яйца", "吃", "鸡蛋"),
    ("potatoes", "Kartoffeln", "keine Kartoffeln", "les pommes de terre", "las patatas", True, "картошку", "吃", "土豆"),
    ("noodles", "Nudeln", "keine Nudeln", "les nouilles", "los fideos", True, "лапшу", "吃", "面条"),
    ("carrots", "Karotten", "keine Karotten", "les carottes", "las zanahorias", True, "морковь", "吃", "胡萝卜"),
)

# Countable produce for the shopping template. ru: genitive singular (after 2-4) / genitive plural
# (after 5+) and gender (два/две); zh: measure word + noun.
PRODUCE = rows(
    "en de fr es ru_few ru_many ru_g zh_mw zh",
    ("apples", "Äpfel", "pommes", "manzanas", "яблока", "яблок", "n", "个", "苹果"),
    ("oranges", "Orangen", "oranges", "naranjas", "апельсина", "апельсинов", "m", "个", "橙子"),
    ("tomatoes", "Tomaten", "tomates", "tomates", "помидора", "помидоров", "m", "个", "西红柿"),
    ("eggs", "Eier", "œufs", "huevos", "яйца", "яиц", "n", "个", "鸡蛋"),
    ("lemons", "Zitronen", "citrons", "limones", "лимона", "лимонов", "m", "个", "柠檬"),
    ("pears", "Birnen", "poires", "peras", "груши", "груш", "f", "个", "梨"),
    ("bananas", "Bananen", "bananes", "plátanos", "банана", "бананов", "m", "根", "香蕉"),
    ("peaches", "Pfirsiche", "pêches", "melocotones", "персика", "персиков", "m", "个", "桃子"),
    ("plums", "Pflaumen", "prunes", "ciruelas", "сливы", "слив", "f", "个", "李子"),
    ("cucumbers", "Gurken", "concombres", "pepinos", "огурца", "огурцов", "m", "根", "黄瓜"),
)

# Where to shop.
SHOPS = rows(
    "en de fr es ru zh",
    ("at the market", "auf dem Markt", "au marché", "en el mercado", "на рынке", "在市场"),
    ("at the supermarket", "im Supermarkt", "au supermarché", "en el supermercado", "в супермаркете", "在超市"),
    ("in the shop", "im Laden", "au magasin", "en la tienda", "в магазине", "在商店"),
)

# Professions: (masculine, feminine) forms; ru_ins: instrumental after "работает".
JOBS = rows(
    "en de fr es ru ru_ins zh",
    ("a doctor", ("Arzt", "Ärztin"), ("médecin", "médecin"), ("médico", "médica"),
     ("врач", "врач"), ("врачом", "врачом"), "医生"),
    ("a teacher", ("Lehrer", "Lehrerin"), ("enseignant", "enseignante"), ("profesor", "profesora"),
     ("учитель", "учительница"), ("учителем", "учительницей"), "老师"),
    ("an engineer", ("Ingenieur", "Ingenieurin"), ("ingénieur", "ingénieure"), ("ingeniero", "ingeniera"),
     ("инженер", "инженер"), ("инженером", "инженером"), "工程师"),
    ("a cook", ("Koch", "Köchin"), ("cuisinier", "cuisinière"), ("cocinero", "cocinera"),
     ("повар", "повар"), ("поваром", "поваром"), "厨师"),
    ("a nurse", ("Krankenpfleger", "Krankenschwester"), ("infirmier", "infirmière"), ("enfermero", "enfermera"),
     ("медбрат", "медсестра"), ("медбратом", "медсестрой"), "护士"),
    ("an architect", ("Architekt", "Architektin"), ("architecte", "architecte"), ("arquitecto", "arquitecta"),
     ("архитектор", "архитектор"), ("архитектором", "архитектором"), "建筑师"),
    ("a journalist", ("Journalist", "Journalistin"), ("journaliste", "journaliste"), ("periodista", "periodista"),
     ("журналист", "журналистка"), ("журналистом", "журналисткой"), "记者"),
    ("a programmer", ("Programmierer", "Programmiererin"), ("programmeur", "programmeuse"),
     ("programador", "programadora"), ("программист", "программист"), ("программистом", "программистом"), "程序员"),
    ("a shop assistant", ("Verkäufer", "Verkäuferin"), ("vendeur", "vendeuse"), ("vendedor", "vendedora"),
     ("продавец", "продавщица"), ("продавцом", "продавщицей"), "售货员"),
    ("a musician", ("Musiker", "Musikerin"), ("musicien", "musicienne"), ("músico", "música"),
     ("музыкант", "музыкант"), ("музыкантом", "музыкантом"), "音乐家"),
    ("a pilot", ("Pilot", "Pilotin"), ("pilote", "pilote"), ("piloto", "piloto"),
     ("пилот", "пилот"), ("пилотом", "пилотом"), "飞行员"),
)

# Things. (gender, noun) per language; ru: (gender, nominative, accusative); zh: (measure word, noun).
# buy: can be bought / owned in the possession template; priced: "expensive"/"cheap" make sense.
THINGS = rows(
    "en de fr es ru zh buy priced",
    ("house", ("n", "Haus"), ("f", "maison"), ("f", "casa"), ("m", "дом", "дом"), ("座", "房子"), True, True),
    ("car", ("n", "Auto"), ("f", "voiture"), ("m", "coche"), ("f", "машина", "машину"), ("辆", "汽车"), True, True),
    ("book", ("n", "Buch"), ("m", "livre"), ("m", "libro"), ("f", "книга", "книгу"), ("本", "书"), True, True),
    ("table", ("m", "Tisch"), ("f", "table"), ("f", "mesa"), ("m", "стол", "стол"), ("张", "桌子"), True, True),
    ("bag", ("f", "Tasche"), ("m", "sac"), ("m", "bolso"), ("f", "сумка", "сумку"), ("个", "包"), True, True),
    ("bicycle", ("n", "Fahrrad"), ("m", "vélo"), ("f", "bicicleta"), ("m", "велосипед", "велосипед"),
     ("辆", "自行车"), True, True),
    ("chair", ("m", "Stuhl"), ("f", "chaise"), ("f", "silla"), ("m", "стул", "стул"), ("把", "椅子"), True, True),
    ("phone", ("n", "Telefon"), ("m", "téléphone"), ("m", "teléfono"), ("m", "телефон", "телефон"),
     ("部", "手机"), True, True),
    ("lamp", ("f", "Lampe"), ("f", "lampe"), ("f", "lámpara"), ("f", "лампа", "лампу"), ("盏", "灯"), True, True),
    ("computer", ("m", "Computer"), ("m", "ordinateur"), ("m", "ordenador"), ("m", "компьютер", "компьютер"),
     ("台", "电脑"), True, True),
    ("jacket", ("f", "Jacke"), ("f", "veste"), ("f", "chaqueta"), ("f", "куртка", "куртку"), ("件", "夹克"), True, True),
    ("umbrella", ("m", "Regenschirm"), ("m", "parapluie"), ("m", "paraguas"), ("m", "зонт", "зонт"),
     ("把", "伞"), True, True),
    ("dress", ("n", "Kleid"), ("f", "robe"), ("m", "vestido"), ("n", "платье", "платье"), ("条", "裙子"), True, True),
    ("room", ("n", "Zimmer"), ("f", "chambre"), ("f", "habitación"), ("f", "комната", "комнату"),
     ("个", "房间"), False, False),
    ("apartment", ("f", "Wohnung"), ("m", "appartement"), ("m", "apartamento"), ("f", "квартира", "квартиру"),
     ("套", "公寓"), False, True),
    ("hotel", ("n", "Hotel"), ("m", "hôtel"), ("m", "hotel"), ("f", "гостиница", "гостиницу"),
     ("家", "酒店"), False, True),
    ("kitchen", ("f", "Küche"), ("f", "cuisine"), ("f", "cocina"), ("f", "кухня", "кухню"), ("个", "厨房"), False, False),
    ("garden", ("m", "Garten"), ("m", "jardin"), ("m", "jardín"), ("m", "сад", "сад"), ("个", "花园"), False, False),
)

# Predicative adjectives ("The house is big."). fr/es: (m, f); ru: (m, f, n) nominative.
ADJ_PRED = rows(
    "en de fr es ru zh priced",
    ("big", "groß", ("grand", "grande"), ("grande", "grande"), ("большой", "большая", "большое"), "大", False),
    ("small", "klein", ("petit", "petite"), ("pequeño", "pequeña"), ("маленький", "маленькая", "маленькое"), "小", False),
    ("new", "neu", ("neuf", "neuve"), ("nuevo", "nueva"), ("новый", "новая", "новое"), "新", False),
    ("old", "alt", ("vieux", "vieille"), ("viejo", "vieja"), ("старый", "старая", "старое"), "旧", False),
    ("beautiful", "schön", ("beau", "belle"), ("bonito", "bonita"), ("красивый", "красивая", "красивое"), "漂亮", False),
    ("expensive", "teuer", ("cher", "chère"), ("caro", "cara"), ("дорогой", "дорогая", "дорогое"), "贵", True),
    ("cheap", "billig", ("bon marché", "bon marché"), ("barato", "barata"), ("дешёвый", "дешёвая", "дешёвое"),
     "便宜", True),
)

# Attributive adjectives ("a red car"). de: stem (regular endings -en/-e/-es after ein/eine/einen);
# fr: (m, f, position before/after the noun); es: (m, f), after the noun; ru: (m, f, n) nominative and
# the feminine accusative (masculine inanimate and neuter accusative equal the nominative); zh: modifier.
ADJ_ATTR = rows(
    "en de fr es ru ru_f_acc zh",
    ("red", "rot", ("rouge", "rouge", "post"), ("rojo", "roja"), ("красный", "красная", "красное"), "красную", "红色的"),
    ("blue", "blau", ("bleu", "bleue", "post"), ("azul", "azul"), ("синий", "синяя", "синее"), "синюю", "蓝色的"),
    ("black", "schwarz", ("noir", "noire", "post"), ("negro", "negra"), ("чёрный", "чёрная", "чёрное"), "чёрную",
     "黑色的"),
    ("white", "weiß", ("blanc", "blanche", "post"), ("blanco", "blanca"), ("белый", "белая", "белое"), "белую",
     "白色的"),
    ("green", "grün", ("vert", "verte", "post"), ("verde", "verde"), ("зелёный", "зелёная", "зелёное"), "зелёную",
     "绿色的"),
    ("yellow", "gelb", ("jaune", "jaune", "post"), ("amarillo", "amarilla"), ("жёлтый", "жёлтая", "жёлтое"),
     "жёлтую", "黄色的"),
    ("grey", "grau", ("gris", "grise", "post"), ("gris", "gris"), ("серый", "серая", "серое"), "серую", "灰色的"),
    ("big", "groß", ("grand", "grande", "pre"), ("grande", "grande"), ("большой", "большая", "большое"), "большую",
     "大"),
    ("small", "klein", ("petit", "petite", "pre"), ("pequeño", "pequeña"),
     ("маленький", "маленькая", "маленькое"), "маленькую", "小"),
    ("new", "neu", ("neuf", "neuve", "post"), ("nuevo", "nueva"), ("новый", "новая", "новое"), "новую", "新"),
    ("cheap", "billig", ("bon marché", "bon marché", "post"), ("barato", "barata"),
     ("дешёвый", "дешёвая", "дешёвое"), "дешёвую", "便宜的"),
)

# Places in a town. de: (gender, noun, "to" phrase); fr/es: (gender, noun); ru: (nominative,
# instrumental, "to" phrase); en_to: "to the ..." phrase; opens: has opening hours; goes: somewhere
# people go every week.
PLACES = rows(
    "en en_to de fr es ru zh opens goes",
    ("museum", "to the museum", ("n", "Museum", "ins Museum"), ("m", "musée"), ("m", "museo"),
     ("музей", "музеем", "в музей"), "博物馆", True, True),
    ("bank", "to the bank", ("f", "Bank", "zur Bank"), ("f", "banque"), ("m", "banco"),
     ("банк", "банком", "в банк"), "银行", True, False),
    ("library", "to the library", ("f", "Bibliothek", "in die Bibliothek"), ("f", "bibliothèque"), ("f", "biblioteca"),
     ("библиотека", "библиотекой", "в библиотеку"), "图书馆", True, True),
    ("supermarket", "to the supermarket", ("m", "Supermarkt", "in den Supermarkt"), ("m", "supermarché"),
     ("m", "supermercado"), ("супермаркет", "супермаркетом", "в супермаркет"), "超市", True, True),
    ("post office", "to the post office", ("f", "Post", "zur Post"), ("f", "poste"), ("f", "oficina de correos"),
     ("почта", "почтой", "на почту"), "邮局", True, False),
    ("pharmacy", "to the pharmacy", ("f", "Apotheke", "in die Apotheke"), ("f", "pharmacie"), ("f", "farmacia"),
     ("аптека", "аптекой", "в аптеку"), "药店", True, False),
    ("restaurant", "to the restaurant", ("n", "Restaurant", "ins Restaurant"), ("m", "restaurant"),
     ("m", "restaurante"), ("ресторан", "рестораном", "в ресторан"), "餐厅", True, True),
    ("school", "to school", ("f", "Schule", "in die Schule"), ("f", "école"), ("f", "escuela"),
     ("школа", "школой", "в школу"), "学校", False, False),
    ("cafe", "to the cafe", ("n", "Café", "ins Café"), ("m", "café"), ("f", "cafetería"),
     ("кафе", "кафе", "в кафе"), "咖啡馆", True, True),
    ("station", "to the station", ("m", "Bahnhof", "zum Bahnhof"), ("f", "gare"), ("f", "estación"),
     ("вокзал", "вокзалом", "на вокзал"), "火车站", False, False),
    ("hospital", "to the hospital", ("n", "Krankenhaus", "ins Krankenhaus"), ("m", "hôpital"), ("m", "hospital"),
     ("больница", "больницей", "в больницу"), "医院", False, False),
    ("park", "to the park", ("m", "Park", "in den Park"), ("m", "parc"), ("m", "parque"),
     ("парк", "парком", "в парк"), "公园", False, True),
    ("cinema", "to the cinema", ("n", "Kino", "ins Kino"), ("m", "cinéma"), ("m", "cine"),
     ("кинотеатр", "кинотеатром", "в кино"), "电影院", True, True),
    ("swimming pool", "to the swimming pool", ("n", "Schwimmbad", "ins Schwimmbad"), ("f", "piscine"),
     ("f", "piscina"), ("бассейн", "бассейном", "в бассейн"), "游泳池", True, True),
    ("market", "to the market", ("m", "Markt", "auf den Markt"), ("m", "marché"), ("m", "mercado"),
     ("рынок", "рынком", "на рынок"), "市场", True, True),
    ("church", "to church", ("f", "Kirche", "in die Kirche"), ("f", "église"), ("f", "iglesia"),
     ("церковь", "церковью", "в церковь"), "教堂", False, True),
    ("gym", "to the gym", ("n", "Fitnessstudio", "ins Fitnessstudio"), ("f", "salle de sport"), ("m", "gimnasio"),
     ("спортзал", "спортзалом", "в спортзал"), "健身房", True, True),
    ("bakery", "to the bakery", ("f", "Bäckerei", "in die Bäckerei"), ("f", "boulangerie"), ("f", "panadería"),
     ("пекарня", "пекарней", "в пекарню"), "面包店", True, True),
    ("zoo", "to the zoo", ("m", "Zoo", "in den Zoo"), ("m", "zoo"), ("m", "zoo"),
     ("зоопарк", "зоопарком", "в зоопарк"), "动物园", True, True),
)

# Means of transport. de/ru: (verb, phrase); zh: verb phrase before 去.
TRANSPORT = rows(
    "en de fr es ru zh gloss",
    ("by train", ("fährt", "mit dem Zug"), "en train", "en tren", ("едет", "на поезде"), "坐火车",
     {"train": ["Zug", "train", "tren", "поезде", "火车"]}),
    ("by bus", ("fährt", "mit dem Bus"), "en bus", "en autobús", ("едет", "на автобусе"), "坐公共汽车",
     {"bus": ["Bus", "bus", "autobús", "автобусе", "公共汽车"]}),
    ("by car", ("fährt", "mit dem Auto"), "en voiture", "en coche", ("едет", "на машине"), "开车",
     {"car": ["Auto", "voiture", "coche", "машине", "车"]}),
    ("by plane", ("fliegt", "mit dem Flugzeug"), "en avion", "en avión", ("летит", "на самолёте"), "坐飞机",
     {"plane": ["Flugzeug", "avion", "avión", "самолёте", "飞机"]}),
)

# Languages. fr: (with article after "apprendre", bare after "parler"); ru: (accusative after "изучает",
# adverb after "говорит").
LANGUAGES = rows(
    "en de fr es ru zh",
    ("German", "Deutsch", ("l'allemand", "allemand"), "alemán", ("немецкий язык", "по-немецки"), "德语"),
    ("French", "Französisch", ("le français", "français"), "francés", ("французский язык", "по-французски"), "法语"),
    ("Spanish", "Spanisch", ("l'espagnol", "espagnol"), "español", ("испанский язык", "по-испански"), "西班牙语"),
    ("Russian", "Russisch", ("le russe", "russe"), "ruso", ("русский язык", "по-русски"), "俄语"),
    ("Chinese", "Chinesisch", ("le chinois", "chinois"), "chino", ("китайский язык", "по-китайски"), "中文"),
    ("English", "Englisch", ("l'anglais", "anglais"), "inglés", ("английский язык", "по-английски"), "英语"),
    ("Italian", "Italienisch", ("l'italien", "italien"), "italiano", ("итальянский язык", "по-итальянски"), "意大利语"),
    ("Japanese", "Japanisch", ("le japonais", "japonais"), "japonés", ("японский язык", "по-японски"), "日语"),
    ("Portuguese", "Portugiesisch", ("le portugais", "portugais"), "portugués",
     ("португальский язык", "по-португальски"), "葡萄牙语"),
)

# Drinks. fr: partitive; ru: (genitive after "хочешь", accusative after "пьёт"); evening_only: not
# something one drinks every morning.
DRINKS = rows(
    "en de fr es ru zh evening_only",
    ("coffee", "Kaffee", "du café", "café", ("кофе", "кофе"), "咖啡", False),
    ("tea", "Tee", "du thé", "té", ("чаю", "чай"), "茶", False),
    ("water", "Wasser", "de l'eau", "agua", ("воды", "воду"), "水", False),
    ("orange juice", "Orangensaft", "du jus d'orange", "zumo de naranja", ("апельсинового сока", "апельсиновый сок"),
     "橙汁", False),
    ("milk", "Milch", "du lait", "leche", ("молока", "молоко"), "牛奶", False),
    ("hot chocolate", "heiße Schokolade", "du chocolat chaud", "chocolate caliente",
     ("горячего шоколада", "горячий шоколад"), "热巧克力", False),
    ("lemonade", "Limonade", "de la limonade", "limonada", ("лимонада", "лимонад"), "柠檬水", False),
    ("wine", "Wein", "du vin", "vino", ("вина", "вино"), "葡萄酒", True),
    ("beer", "Bier", "de la bière", "cerveza", ("пива", "пиво"), "啤酒", True),
)

DRINK_TIMES = rows(
    "en de fr es ru zh evening",
    ("every morning", "jeden Morgen", "tous les matins", "todas las mañanas", "каждое утро", "每天早上", False),
    ("every evening", "jeden Abend", "tous les soirs", "todas las noches", "каждый вечер", "每天晚上", True),
)

# Feelings. de: predicate after the subject with "heute"; fr/es/ru: (m, f) predicate; zh: after 今天.
FEELINGS = rows(
    "en de fr es ru zh gloss",
    ("tired", "ist heute müde", ("est fatigué", "est fatiguée"), ("está cansado", "está cansada"),
     ("устал", "устала"), "很累",
     ["müde", ("fatigué", "fatiguée"), ("cansado", "cansada"), ("устал", "устала"), "累"]),
    ("hungry", "hat heute Hunger", ("a faim", "a faim"), ("tiene hambre", "tiene hambre"),
     ("голоден", "голодна"), "很饿",
     ["Hunger", "faim", "hambre", ("голоден", "голодна"), "饿"]),
    ("busy", "ist heute beschäftigt", ("est occupé", "est occupée"), ("está ocupado", "está ocupada"),
     ("занят", "занята"), "很忙",
     ["beschäftigt", ("occupé", "occupée"), ("ocupado", "ocupada"), ("занят", "занята"), "忙"]),
    ("sick", "ist heute krank", ("est malade", "est malade"), ("está enfermo", "está enferma"),
     ("болен", "больна"), "生病了",
     ["krank", "malade", ("enfermo", "enferma"), ("болен", "больна"), "生病"]),
    ("happy", "ist heute glücklich", ("est heureux", "est heureuse"), ("está contento", "está contenta"),
     ("счастлив", "счастлива"), "很高兴",
     ["glücklich", ("heureux", "heureuse"), ("contento", "contenta"), ("счастлив", "счастлива"), "高兴"]),
    ("sad", "ist heute traurig", ("est triste", "est triste"), ("está triste", "está triste"),
     ("грустит", "грустит"), "很难过",
     ["traurig", "triste", "triste", "грустит", "难过"]),
)

# Past activities. de: (auxiliary, rest of the clause); fr and ru: (masculine subject, feminine subject).
# gloss: english word -> translations in de, fr, es, ru, zh order (a tuple holds several forms, None: none).
ACTIVITIES = rows(
    "en de fr es ru zh gloss",
    ("read a book", ("hat", "ein Buch gelesen"), ("a lu un livre",) * 2, "leyó un libro",
     ("прочитал книгу", "прочитала книгу"), "看了一本书",
     {"read": ["gelesen", "lu", "leyó", ("прочитал", "прочитала"), "看"],
      "book": ["Buch", "livre", "libro", "книгу", "书"]}),
    ("wrote a letter", ("hat", "einen Brief geschrieben"), ("a écrit une lettre",) * 2, "escribió una carta",
     ("написал письмо", "написала письмо"), "写了一封信",
     {"wrote": ["geschrieben", "écrit", "escribió", ("написал", "написала"), "写"],
      "letter": ["Brief", "lettre", "carta", "письмо", "信"]}),
    ("cooked dinner", ("hat", "das Abendessen gekocht"), ("a préparé le dîner",) * 2, "preparó la cena",
     ("приготовил ужин", "приготовила ужин"), "做了晚饭",
     {"cooked": ["gekocht", "préparé", "preparó", ("приготовил", "приготовила"), "做"],
      "dinner": ["Abendessen", "dîner", "cena", "ужин", "晚饭"]}),
    ("watched a film", ("hat", "einen Film gesehen"), ("a regardé un film",) * 2, "vio una película",
     ("посмотрел фильм", "посмотрела фильм"), "看了一部电影",
     {"watched": ["gesehen", "regardé", "vio", ("посмотрел", "посмотрела"), "看"],
      "film": ["Film", "film", "película", "фильм", "电影"]}),
    ("played football", ("hat", "Fußball gespielt"), ("a joué au football",) * 2, "jugó al fútbol",
     ("играл в футбол", "играла в футбол"), "踢了足球",
     {"played": ["gespielt", "joué", "jugó", ("играл", "играла"), "踢"],
      "football": ["Fußball", "football", "fútbol", "футбол", "足球"]}),
    ("went to the cinema", ("ist", "ins Kino gegangen"), ("est allé au cinéma", "est allée au cinéma"),
     "fue al cine", ("ходил в кино", "ходила в кино"), "去了电影院",
     {"went": ["gegangen", ("allé", "allée"), "fue", ("ходил", "ходила"), "去"],
      "cinema": ["Kino", "cinéma", "cine", "кино", "电影院"]}),
    ("cleaned the room", ("hat", "das Zimmer geputzt"), ("a nettoyé la chambre",) * 2, "limpió la habitación",
     ("убрал комнату", "убрала комнату"), "打扫了房间",
     {"cleaned": ["geputzt", "nettoyé", "limpió", ("убрал", "убрала"), "打扫"],
      "room": ["Zimmer", "chambre", "habitación", "комнату", "房间"]}),
    ("bought bread", ("hat", "Brot gekauft"), ("a acheté du pain",) * 2, "compró pan",
     ("купил хлеб", "купила хлеб"), "买了面包",
     {"bought": ["gekauft", "acheté", "compró", ("купил", "купила"), "买"],
      "bread": ["Brot", "pain", "pan", "хлеб", "面包"]}),
    ("visited a museum", ("hat", "ein Museum besucht"), ("a visité un musée",) * 2, "visitó un museo",
     ("посетил музей", "посетила музей"), "参观了一座博物馆",
     {"visited": ["besucht", "visité", "visitó", ("посетил", "посетила"), "参观"],
      "museum": ["Museum", "musée", "museo", "музей", "博物馆"]}),
    ("learned new words", ("hat", "neue Wörter gelernt"), ("a appris de nouveaux mots",) * 2,
     "aprendió palabras nuevas", ("выучил новые слова", "выучила новые слова"), "学了新单词",
     {"learned": ["gelernt", "appris", "aprendió", ("выучил", "выучила"), "学"],
      "words": ["Wörter", "mots", "palabras", "слова", "单词"],
      "new": ["neue", "nouveaux", "nuevas", "новые", "新"]}),
    ("stayed at home", ("ist", "zu Hause geblieben"), ("est resté à la maison", "est restée à la maison"),
     "se quedó en casa", ("остался дома", "осталась дома"), "待在家里",
     {"stayed": ["geblieben", ("resté", "restée"), "quedó", ("остался", "осталась"), "待"],
      "home": ["Hause", "maison", "casa", "дома", "家"]}),
    ("listened to music", ("hat", "Musik gehört"), ("a écouté de la musique",) * 2, "escuchó música",
     ("слушал музыку", "слушала музыку"), "听了音乐",
     {"listened": ["gehört", "écouté", "escuchó", ("слушал", "слушала"), "听"],
      "music": ["Musik", "musique", "música", "музыку", "音乐"]}),
    ("went for a walk in the park", ("ist", "im Park spazieren gegangen"),
     ("s'est promené dans le parc", "s'est promenée dans le parc"), "dio un paseo por el parque",
     ("гулял в парке", "гуляла в парке"), "去公园散步了",
     {"walk": ["spazieren", ("promené", "promenée"), "paseo", ("гулял", "гуляла"), "散步"],
      "park": ["Park", "parc", "parque", "парке", "公园"]}),
    ("washed the car", ("hat", "das Auto gewaschen"), ("a lavé la voiture",) * 2, "lavó el coche",
     ("помыл машину", "помыла машину"), "洗了车",
     {"washed": ["gewaschen", "lavé", "lavó", ("помыл", "помыла"), "洗"],
      "car": ["Auto", "voiture", "coche", "машину", "车"]}),
    ("baked a cake", ("hat", "einen Kuchen gebacken"), ("a fait un gâteau",) * 2, "horneó un pastel",
     ("испёк торт", "испекла торт"), "烤了一个蛋糕",
     {"baked": ["gebacken", None, "horneó", ("испёк", "испекла"), "烤"],
      "cake": ["Kuchen", "gâteau", "pastel", "торт", "蛋糕"]}),
)

# When a past activity happened (weekdays are added from DAYS).
PAST_TIMES = rows(
    "en de fr es ru zh",
    ("Yesterday", "Gestern", "Hier", "Ayer", "Вчера", "昨天"),
    ("Last week", "Letzte Woche", "La semaine dernière", "La semana pasada", "На прошлой неделе", "上周"),
    ("Last weekend", "Letztes Wochenende", "Le week-end dernier", "El fin de semana pasado", "В прошлые выходные",
     "上周末"),
)

# Hobbies: instruments and games. en: verb phrase after the subject; de: noun after "spielt".
HOBBIES = rows(
    "en de fr es ru zh gloss",
    ("plays the piano", "Klavier", "joue du piano", "toca el piano", "играет на пианино", "弹钢琴",
     ("piano", ["Klavier", "piano", "piano", "пианино", "钢琴"])),
    ("plays the guitar", "Gitarre", "joue de la guitare", "toca la guitarra", "играет на гитаре", "弹吉他",
     ("guitar", ["Gitarre", "guitare", "guitarra", "гитаре", "吉他"])),
    ("plays the violin", "Geige", "joue du violon", "toca el violín", "играет на скрипке", "拉小提琴",
     ("violin", ["Geige", "violon", "violín", "скрипке", "小提琴"])),
    ("plays football", "Fußball", "joue au football", "juega al fútbol", "играет в футбол", "踢足球",
     ("football", ["Fußball", "football", "fútbol", "футбол", "足球"])),
    ("plays tennis", "Tennis", "joue au tennis", "juega al tenis", "играет в теннис", "打网球",
     ("tennis", ["Tennis", "tennis", "tenis", "теннис", "网球"])),
    ("plays chess", "Schach", "joue aux échecs", "juega al ajedrez", "играет в шахматы", "下国际象棋",
     ("chess", ["Schach", "échecs", "ajedrez", "шахматы", "国际象棋"])),
    ("plays basketball", "Basketball", "joue au basket", "juega al baloncesto", "играет в баскетбол", "打篮球",
     ("basketball", ["Basketball", "basket", "baloncesto", "баскетбол", "篮球"])),
)

HOBBY_TIMES = rows(
    "en de fr es ru zh",
    ("every day", "jeden Tag", "tous les jours", "todos los días", "каждый день", "每天"),
    ("in the evening", "abends", "le soir", "por las tardes", "по вечерам", "晚上"),
    ("on weekends", "am Wochenende", "le week-end", "los fines de semana", "по выходным", "周末"),
    ("on Sundays", "sonntags", "le dimanche", "los domingos", "по воскресеньям", "每个星期天"),
    ("on Saturdays", "samstags", "le samedi", "los sábados", "по субботам", "每个星期六"),
)

# Countable beings and objects seen somewhere ("There are five dogs in the garden.").
# ru: genitive singular (2-4) / genitive plural (5+) and gender; zh: measure word + noun.
COUNTABLES = rows(
    "en de fr es ru_few ru_many ru_g zh_mw zh where",
    ("students", "Studenten", "étudiants", "estudiantes", "студента", "студентов", "m", "个", "学生",
     ("park", "museum", "library", "room")),
    ("tourists", "Touristen", "touristes", "turistas", "туриста", "туристов", "m", "个", "游客",
     ("park", "museum", "restaurant", "street")),
    ("children", "Kinder", "enfants", "niños", "ребёнка", "детей", "m", "个", "孩子",
     ("garden", "park", "room", "museum")),
    ("dogs", "Hunde", "chiens", "perros", "собаки", "собак", "f", "只", "狗", ("garden", "park", "street")),
    ("cats", "Katzen", "chats", "gatos", "кошки", "кошек", "f", "只", "猫", ("garden", "room")),
    ("birds", "Vögel", "oiseaux", "pájaros", "птицы", "птиц", "f", "只", "鸟", ("garden", "park")),
    ("cars", "Autos", "voitures", "coches", "машины", "машин", "f", "辆", "汽车", ("street",)),
    ("chairs", "Stühle", "chaises", "sillas", "стула", "стульев", "m", "把", "椅子", ("room", "garden", "restaurant")),
    ("books", "Bücher", "livres", "libros", "книги", "книг", "f", "本", "书", ("room", "library")),
    ("tables", "Tische", "tables", "mesas", "стола", "столов", "m", "张", "桌子", ("room", "restaurant", "garden")),
)

# Locations for COUNTABLES. de: "in/on the X" phrase; zh: locative noun.
LOCATIONS = {
    r["key"]: r
    for r in rows(
        "key en de fr es ru zh",
        ("garden", "in the garden", "im Garten", "dans le jardin", "en el jardín", "в саду", "花园里"),
        ("park", "in the park", "im Park", "dans le parc", "en el parque", "в парке", "公园里"),
        ("museum", "in the museum", "im Museum", "dans le musée", "en el museo", "в музее", "博物馆里"),
        ("restaurant", "in the restaurant", "im Restaurant", "dans le restaurant", "en el restaurante",
         "в ресторане", "餐厅里"),
        ("street", "in the street", "auf der Straße", "dans la rue", "en la calle", "на улице", "街上"),
        ("room", "in the room", "im Zimmer", "dans la chambre", "en la habitación", "в комнате", "房间里"),
        ("library", "in the library", "in der Bibliothek", "dans la bibliothèque", "en la biblioteca",
         "в библиотеке", "图书馆里"),
    )
}

# Words that the templates themselves contribute to the dictionaries: english -> translations in
# de, fr, es, ru, zh order (a tuple holds several forms; None: no single-word equivalent).
TEMPLATE_GLOSSES = {
    "likes": ["mag", "aime", ("gusta", "gustan"), "любит", "喜欢"],
    "like": [("mag", "möchtest"), ("aime", "veux"), ("gusta", "gustan", "quieres"), ("любит", "хочешь"),
             ("喜欢", "想")],
    "not": [None, "pas", "no", "не", "不"],
    "buys": ["kauft", "achète", "compra", "покупает", "买"],
    "buy": [("kaufe", "kaufen"), ("achète", "achetons", "acheter"), ("compro", "compramos", "comprar"),
            ("покупаю", "покупаем", "купить"), "买"],
    "market": ["Markt", "marché", "mercado", ("рынке", "рынок", "рынком"), "市场"],
    "supermarket": ["Supermarkt", "supermarché", "supermercado", ("супермаркете", "супермаркет", "супермаркетом"),
                    "超市"],
    "shop": ["Laden", "magasin", "tienda", "магазине", "商店"],
    "today": ["heute", "aujourd'hui", "hoy", "сегодня", "今天"],
    "yesterday": ["gestern", "hier", "ayer", "вчера", "昨天"],
    "week": ["Woche", "semaine", "semana", "неделе", "周"],
    "weekend": ["Wochenende", "week-end", "fin de semana", "выходные", "周末"],
    "weekends": ["Wochenende", "week-end", "fines de semana", "выходным", "周末"],
    "last": [("letzte", "letztes"), ("dernière", "dernier"), ("pasada", "pasado"), ("прошлой", "прошлые"), "上"],
    "day": ["Tag", "jours", ("días", "día"), "день", "天"],
    "morning": ["Morgen", "matins", "mañanas", "утро", "早上"],
    "evening": [("Abend", "abends"), ("soir", "soirs"), ("tardes", "noches"), ("вечер", "вечерам"), "晚上"],
    "every": ["jeden", "tous", ("todos", "todas"), ("каждый", "каждую", "каждое"), "每"],
    "works": ["arbeitet", "travaille", "trabaja", "работает", None],
    "lives": ["wohnt", "habite", "vive", "живёт", "住"],
    "live": ["wohnt", "habite", "vive", "живёт", "住"],
    "where": ["wo", "où", "dónde", "где", "哪里"],
    "learning": ["lernt", "apprend", "aprendiendo", "изучает", "学"],
    "speaks": ["spricht", "parle", "habla", "говорит", "说"],
    "speak": ["sprichst", "parles", "hablas", "говоришь", "说"],
    "well": ["gut", "bien", "bien", "хорошо", "好"],
    "very": ["sehr", "très", "muy", "очень", "非常"],
    "little": ["bisschen", "peu", "poco", "немного", "一点"],
    "opens": ["öffnet", "ouvre", "abre", "открывается", "开门"],
    "closes": ["schließt", "ferme", "cierra", "закрывается", "关门"],
    "o'clock": ["Uhr", "heures", None, "часов", "点"],
    "gets up": [None, "lève", "levanta", "встаёт", "起床"],
    "goes to bed": [None, "couche", "acuesta", "ложится спать", "睡觉"],
    "bed": ["Bett", None, None, None, None],
    "waiting": ["wartet", "attend", "esperando", "ждёт", "等"],
    "next to": ["neben", "à côté", "al lado", "рядом", "旁边"],
    "behind": ["hinter", "derrière", "detrás", None, "后面"],
    "in front of": ["vor", "devant", "delante", "перед", "前面"],
    "near": ["Nähe", "près", "cerca", "поблизости", "附近"],
    "here": ["hier", "ici", "aquí", "здесь", None],
    "excuse me": ["Entschuldigung", "excusez-moi", "perdone", "извините", "请问"],
    "drinks": ["trinkt", "boit", "bebe", "пьёт", "喝"],
    "wants": ["möchte", "veut", "quiere", "хочет", "想"],
    "has": ["hat", None, "tiene", "есть", "有"],
    "plays": ["spielt", "joue", ("juega", "toca"), "играет", None],
    "birthday": ["Geburtstag", "anniversaire", "cumpleaños", "рождения", "生日"],
    "going": [("fährt", "fahren", "fliegt"), ("va", "allons"), ("va", "vamos"), ("едет", "едем", "летит"), "去"],
    "goes": ["geht", "va", "va", "ходит", "去"],
    "we": ["wir", "nous", None, "мы", "我们"],
    "my": [("mein", "meine"), ("mon", "ma"), "mi", ("мой", "моя", "моей", "моего"), "我"],
    "your": [("dein", "deine"), ("ton", "ta"), "tu", ("твой", "твоя"), "你"],
    "this": [("dieser", "diese", "dieses"), ("ce", "cet", "cette"), ("este", "esta"), ("этот", "эта", "это"), "这"],
    "street": ["Straße", "rue", "calle", "улице", "街"],
}


# =====================================================================================================
# Grammar helpers.
# =====================================================================================================

def cap(s: str) -> str:
    """Upper-case the first letter (skipping a leading '¿')."""
    for i, ch in enumerate(s):
        if ch.isalpha():
            return s[:i] + ch.upper() + s[i + 1:]
    return s


def fr_vowel(word: str) -> bool:
    return word[0].lower() in "aeiouyéèêâîôh"


def fr_article(g: str, noun: str, kind: str = "def") -> str:
    """French determiner + noun: def (le/la/l'), de (du/de la/de l'), a (au/à la/à l'), dem (ce/cet/cette),
    indef (un/une)."""
    v = fr_vowel(noun)
    table = {
        "def": ("l'", "le ", "la "),
        "de": ("de l'", "du ", "de la "),
        "a": ("à l'", "au ", "à la "),
        "indef": ("un ", "un ", "une "),
    }
    if kind == "dem":
        return ("cet " if v else "ce " if g == "m" else "cette ") + noun
    elided, masc, fem = table[kind]
    if kind == "indef":
        return (masc if g == "m" else fem) + noun
    return (elided if v else masc if g == "m" else fem) + noun


def fr_of(name: str) -> str:
    """French "de" before a proper name, with elision."""
    return ("d'" if fr_vowel(name) else "de ") + name


def es_article(g: str, noun: str, kind: str = "def") -> str:
    """Spanish determiner + noun: def, de (del/de la), dem (este/esta), indef (un/una)."""
    forms = {"def": ("el", "la"), "de": ("del", "de la"), "dem": ("este", "esta"), "indef": ("un", "una")}
    m, f = forms[kind]
    return (m if g == "m" else f) + " " + noun


DE_ARTICLES = {  # gender -> determiner by case / kind
    "nom": {"m": "der", "f": "die", "n": "das"},
    "dat": {"m": "dem", "f": "der", "n": "dem"},
    "dem": {"m": "dieser", "f": "diese", "n": "dieses"},
    "indef_acc": {"m": "einen", "f": "eine", "n": "ein"},
}
DE_ACC_ENDING = {"m": "en", "f": "e", "n": "es"}  # adjective ending after einen/eine/ein


def de_article(g: str, noun: str, kind: str = "nom") -> str:
    return f"{DE_ARTICLES[kind][g]} {noun}"


def gidx(g: str) -> int:
    """Index into (masculine, feminine[, neuter]) tuples."""
    return {"m": 0, "f": 1, "n": 2}[g]


def ru_count(number: dict, noun_few: str, noun_many: str, g: str) -> str:
    """Russian numeral + noun: 2-4 take the genitive singular, 5+ the genitive plural."""
    word = number["ru"][1 if g == "f" else 0]
    return f"{word} {noun_few if number['n'] <= 4 else noun_many}"


def en_article(word: str) -> str:
    return ("an " if word[0].lower() in "aeiou" else "a ") + word


# =====================================================================================================
# Subjects: a person's name or a relative ("my mother").
# =====================================================================================================

def name_subject(p: dict) -> dict:
    n = p["en"]
    return {"en": n, "de": n, "fr": n, "es": n, "ru": p["ru"], "zh": p["zh"], "g": p["g"],
            "ru_gen": p["ru_gen"], "en_poss": n + "'s", "de_poss": n + ("'" if n[-1] in "sxz" else "s"),
            "fr_of": fr_of(n), "es_of": "de " + n}


def relative_subject(r: dict) -> dict:
    m = r["g"] == "m"
    return {"en": "my " + r["en"], "de": ("mein " if m else "meine ") + r["de"],
            "fr": ("mon " if m else "ma ") + r["fr"], "es": "mi " + r["es"],
            "ru": ("мой " if m else "моя ") + r["ru"], "zh": "我" + r["zh"], "g": r["g"],
            "ru_gen": ("моего " if m else "моей ") + r["ru_gen"]}


# =====================================================================================================
# Sampling: every table is dealt like a shuffled deck so that all entries get used evenly.
# =====================================================================================================

class Dealer:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.decks: dict[str, list[int]] = {}

    def draw(self, key: str, table: list, ok=None):
        """Next entry of ``table`` (reshuffled when exhausted) for which ``ok(entry)`` holds."""
        deck = self.decks.setdefault(key, [])
        for _ in range(3 * len(table) + 3):
            if not deck:
                deck.extend(range(len(table)))
                self.rng.shuffle(deck)
            item = table[deck.pop()]
            if ok is None or ok(item):
                return item
        raise ValueError(f"no entry of {key!r} satisfies the constraint")

    def subject(self, relative_share: float = 0.35) -> dict:
        if self.rng.random() < relative_share:
            return relative_subject(self.draw("relatives", RELATIVES))
        return name_subject(self.draw("names", NAMES))

    def person(self) -> dict:
        return name_subject(self.draw("names", NAMES))

    def number(self, lo: int, hi: int) -> dict:
        return self.draw(f"numbers{lo}-{hi}", [x for x in NUMBERS if lo <= x["n"] <= hi])


def done(en, de, fr, es, ru, zh) -> dict[str, str]:
    """Finish one aligned sentence tuple: capitalise the first letter of each language."""
    return {"en": cap(en), "de": cap(de), "fr": cap(fr), "es": cap(es), "ru": cap(ru), "zh": zh}


# =====================================================================================================
# Templates. Each takes the Dealer and returns {lang: sentence}.
# =====================================================================================================

def t_weather(d: Dealer):
    w, c = d.draw("weather", WEATHER), d.draw("cities", CITIES)
    if d.rng.random() < 0.45:
        verb, pred = w["de_now"]
        return done(
            f"It is {w['en'][0]} in {c['en']} today.",
            f"Heute {verb} es in {c['de']}" + (f" {pred}." if pred else "."),
            f"Aujourd'hui, {w['fr'][0]} à {c['fr']}.",
            f"Hoy {w['es'][0]} en {c['es']}.",
            f"Сегодня {c['ru_in']} {w['ru'][0]}.",
            f"今天{c['zh']}{w['zh'][0]}。")
    day = d.draw("days", DAYS)
    return done(
        f"It will {w['en'][1]} in {c['en']} on {day['en']}.",
        f"Am {day['de']} wird es in {c['de']} {w['de_fut']}.",
        f"{day['fr']}, {w['fr'][1]} à {c['fr']}.",
        f"El {day['es']} {w['es'][1]} en {c['es']}.",
        f"{day['ru_on']} {c['ru_in']} {w['ru'][1]}.",
        f"{day['zh']}{c['zh']}{w['zh'][1]}。")


def t_food(d: Dealer):
    s, f = d.subject(), d.draw("foods", FOODS)
    neg = d.rng.random() < 0.35
    gusta = "gustan" if f["es_pl"] else "gusta"
    if neg:
        return done(
            f"{s['en']} does not like {f['en']}.",
            f"{s['de']} mag {f['de_neg']}.",
            f"{s['fr']} n'aime pas {f['fr']}.",
            f"A {s['es']} no le {gusta} {f['es']}.",
            f"{s['ru']} не любит {f['ru']}.",
            f"{s['zh']}不喜欢{f['zh_v']}{f['zh']}。")
    return done(
        f"{s['en']} likes {f['en']}.",
        f"{s['de']} mag {f['de']}.",
        f"{s['fr']} aime {f['fr']}.",
        f"A {s['es']} le {gusta} {f['es']}.",
        f"{s['ru']} любит {f['ru']}.",
        f"{s['zh']}喜欢{f['zh_v']}{f['zh']}。")


SHOPPERS = {  # person -> "subject + buy" per language, and the Chinese subject
    "I": {"en": "I buy", "de": "Ich kaufe", "fr": "J'achète", "es": "Compro", "ru": "Я покупаю", "zh": "我"},
    "we": {"en": "We buy", "de": "Wir kaufen", "fr": "Nous achetons", "es": "Compramos", "ru": "Мы покупаем",
           "zh": "我们"},
}


def t_shopping(d: Dealer):
    item, shop, num = d.draw("produce", PRODUCE), d.draw("shops", SHOPS), d.number(2, 10)
    r = d.rng.random()
    if r < 0.5:
        s = d.subject()
        sv = {"en": f"{s['en']} buys", "de": f"{s['de']} kauft", "fr": f"{s['fr']} achète",
              "es": f"{s['es']} compra", "ru": f"{s['ru']} покупает", "zh": s["zh"]}
    else:
        sv = SHOPPERS["I" if r < 0.75 else "we"]
    return done(
        f"{sv['en']} {num['en']} {item['en']} {shop['en']}.",
        f"{sv['de']} {num['de']} {item['de']} {shop['de']}.",
        f"{sv['fr']} {num['fr']} {item['fr']} {shop['fr']}.",
        f"{sv['es']} {num['es']} {item['es']} {shop['es']}.",
        f"{sv['ru']} {ru_count(num, item['ru_few'], item['ru_many'], item['ru_g'])} {shop['ru']}.",
        f"{sv['zh']}{shop['zh']}买{num['zh']}{item['zh_mw']}{item['zh']}。")


def t_travel(d: Dealer):
    s, c, t, day = d.subject(), d.draw("cities", CITIES), d.draw("transport", TRANSPORT), d.draw("days", DAYS)
    return done(
        f"{s['en']} is going to {c['en']} {t['en']} on {day['en']}.",
        f"{s['de']} {t['de'][0]} am {day['de']} {t['de'][1]} nach {c['de']}.",
        f"{s['fr']} va à {c['fr']} {t['fr']} {day['fr']}.",
        f"{s['es']} va a {c['es']} {t['es']} el {day['es']}.",
        f"{day['ru_on']} {s['ru']} {t['ru'][0]} {c['ru_to']} {t['ru'][1]}.",
        f"{s['zh']}{day['zh']}{t['zh']}去{c['zh']}。")


def t_job(d: Dealer):
    s, j = d.subject(), d.draw("jobs", JOBS)
    i = gidx(s["g"])
    if d.rng.random() < 0.4:
        return done(
            f"{s['en']} is {j['en']}.",
            f"{s['de']} ist {j['de'][i]}.",
            f"{s['fr']} est {j['fr'][i]}.",
            f"{s['es']} es {j['es'][i]}.",
            f"{s['ru']} — {j['ru'][i]}.",
            f"{s['zh']}是{j['zh']}。")
    c = d.draw("cities", CITIES)
    return done(
        f"{s['en']} works as {j['en']} in {c['en']}.",
        f"{s['de']} arbeitet als {j['de'][i]} in {c['de']}.",
        f"{s['fr']} travaille comme {j['fr'][i]} à {c['fr']}.",
        f"{s['es']} trabaja como {j['es'][i]} en {c['es']}.",
        f"{s['ru']} работает {j['ru_ins'][i]} {c['ru_in']}.",
        f"{s['zh']}在{c['zh']}当{j['zh']}。")


def t_family(d: Dealer):
    r = d.rng.random()
    if r < 0.5:
        s, c = d.subject(0.6), d.draw("cities", CITIES)
        return done(
            f"{s['en']} lives in {c['en']}.",
            f"{s['de']} wohnt in {c['de']}.",
            f"{s['fr']} habite à {c['fr']}.",
            f"{s['es']} vive en {c['es']}.",
            f"{s['ru']} живёт {c['ru_in']}.",
            f"{s['zh']}住在{c['zh']}。")
    rel = d.draw("relatives", RELATIVES)
    m = rel["g"] == "m"
    de_your, fr_your, ru_your = ("dein" if m else "deine"), ("ton" if m else "ta"), ("твой" if m else "твоя")
    if r < 0.75:
        return done(
            f"Where does your {rel['en']} live?",
            f"Wo wohnt {de_your} {rel['de']}?",
            f"Où habite {fr_your} {rel['fr']} ?",
            f"¿Dónde vive tu {rel['es']}?",
            f"Где живёт {ru_your} {rel['ru']}?",
            f"你{rel['zh']}住在哪里？")
    c = d.draw("cities", CITIES)
    return done(
        f"Does your {rel['en']} live in {c['en']}?",
        f"Wohnt {de_your} {rel['de']} in {c['de']}?",
        f"Est-ce que {fr_your} {rel['fr']} habite à {c['fr']} ?",
        f"¿Tu {rel['es']} vive en {c['es']}?",
        f"{ru_your} {rel['ru']} живёт {c['ru_in']}?",
        f"你{rel['zh']}住在{c['zh']}吗？")


def t_clock(d: Dealer):
    r = d.rng.random()
    if r < 0.5:
        p = d.draw("places", PLACES, lambda x: x["opens"])
        g, noun = p["de"][0], p["de"][1]
        fg, fnoun = p["fr"]
        if r < 0.28:
            h = d.number(7, 10)
            en_v, de_v, fr_v, es_v, ru_v, zh_v = "opens", "öffnet", "ouvre", "abre", "открывается", "开门"
        else:
            h = d.number(5, 11)
            en_v, de_v, fr_v, es_v, ru_v, zh_v = "closes", "schließt", "ferme", "cierra", "закрывается", "关门"
        return done(
            f"The {p['en']} {en_v} at {h['en']} o'clock.",
            f"{de_article(g, noun)} {de_v} um {h['de']} Uhr.",
            f"{fr_article(fg, fnoun)} {fr_v} à {h['fr']} heures.",
            f"{es_article(*p['es'])} {es_v} a las {h['es']}.",
            f"{p['ru'][0]} {ru_v} в {h['ru'][0]} часов.",
            f"{p['zh']}{h['zh']}点{zh_v}。")
    s = d.subject()
    if r < 0.78:
        h = d.number(5, 9)
        return done(
            f"{s['en']} gets up at {h['en']} o'clock every day.",
            f"{s['de']} steht jeden Tag um {h['de']} Uhr auf.",
            f"{s['fr']} se lève à {h['fr']} heures tous les jours.",
            f"{s['es']} se levanta a las {h['es']} todos los días.",
            f"{s['ru']} встаёт в {h['ru'][0]} часов каждый день.",
            f"{s['zh']}每天{h['zh']}点起床。")
    h = d.number(9, 11)
    return done(
        f"{s['en']} goes to bed at {h['en']} o'clock.",
        f"{s['de']} geht um {h['de']} Uhr ins Bett.",
        f"{s['fr']} se couche à {h['fr']} heures.",
        f"{s['es']} se acuesta a las {h['es']}.",
        f"{s['ru']} ложится спать в {h['ru'][0]} часов.",
        f"{s['zh']}{h['zh']}点睡觉。")


def t_describe(d: Dealer):
    n = d.draw("things", THINGS)
    a = d.draw("adj_pred", ADJ_PRED, lambda x: n["priced"] or not x["priced"])
    (dg, dn), (fg, fn), (eg, en_), (rg, rn, _), (mw, zn) = n["de"], n["fr"], n["es"], n["ru"], n["zh"]
    fa, ea, ra = a["fr"][gidx(fg)], a["es"][gidx(eg)], a["ru"][gidx(rg)]
    r = d.rng.random()
    if r < 0.25:
        return done(
            f"Is the {n['en']} {a['en']}?",
            f"Ist {de_article(dg, dn)} {a['de']}?",
            f"Est-ce que {fr_article(fg, fn)} est {fa} ?",
            f"¿Es {ea} {es_article(eg, en_)}?",
            f"{rn} {ra}?",
            f"{zn}{a['zh']}吗？")
    very = d.rng.random() < 0.4
    vx = {"en": "very " if very else "", "de": "sehr " if very else "", "fr": "très " if very else "",
          "es": "muy " if very else "", "ru": "очень " if very else "", "zh": "非常" if very else "很"}
    if r < 0.6:
        return done(
            f"The {n['en']} is {vx['en']}{a['en']}.",
            f"{de_article(dg, dn)} ist {vx['de']}{a['de']}.",
            f"{fr_article(fg, fn)} est {vx['fr']}{fa}.",
            f"{es_article(eg, en_)} es {vx['es']}{ea}.",
            f"{rn} {vx['ru']}{ra}.",
            f"{zn}{vx['zh']}{a['zh']}。")
    ru_this = {"m": "этот", "f": "эта", "n": "это"}[rg]
    return done(
        f"This {n['en']} is {vx['en']}{a['en']}.",
        f"{de_article(dg, dn, 'dem')} ist {vx['de']}{a['de']}.",
        f"{fr_article(fg, fn, 'dem')} est {vx['fr']}{fa}.",
        f"{es_article(eg, en_, 'dem')} es {vx['es']}{ea}.",
        f"{ru_this} {rn} {vx['ru']}{ra}.",
        f"这{mw}{zn}{vx['zh']}{a['zh']}。")


def noun_phrases(n: dict, a: dict) -> dict:
    """Indefinite noun phrase "a <adj> <noun>" in every language (German/Russian in the accusative,
    Russian also in the nominative as ``ru_nom``)."""
    (dg, dn), (fg, fn), (eg, en_), (rg, r_nom, r_acc), (mw, zn) = n["de"], n["fr"], n["es"], n["ru"], n["zh"]
    fm, ff, pos = a["fr"]
    fa = fm if fg == "m" else ff
    french = f"{fa} {fn}" if pos == "pre" else f"{fn} {fa}"
    ru_nom_adj = a["ru"][gidx(rg)]
    ru_acc_adj = a["ru_f_acc"] if rg == "f" else ru_nom_adj
    return {
        "en": en_article(f"{a['en']} {n['en']}"),
        "de": f"{DE_ARTICLES['indef_acc'][dg]} {a['de']}{DE_ACC_ENDING[dg]} {dn}",
        "fr": ("un " if fg == "m" else "une ") + french,
        "es": ("un " if eg == "m" else "una ") + f"{en_} {a['es'][gidx(eg)]}",
        "ru": f"{ru_acc_adj} {r_acc}",
        "ru_nom": f"{ru_nom_adj} {r_nom}",
        "zh": f"一{mw}{a['zh']}{zn}",
    }


def t_possess(d: Dealer):
    n = d.draw("buyable", THINGS, lambda x: x["buy"])
    a = d.draw("adj_attr", ADJ_ATTR)
    np_ = noun_phrases(n, a)
    s = d.subject(0.3)
    if d.rng.random() < 0.5:
        return done(
            f"{s['en']} has {np_['en']}.",
            f"{s['de']} hat {np_['de']}.",
            f"{s['fr']} a {np_['fr']}.",
            f"{s['es']} tiene {np_['es']}.",
            f"У {s['ru_gen']} есть {np_['ru_nom']}.",
            f"{s['zh']}有{np_['zh']}。")
    return done(
        f"{s['en']} wants to buy {np_['en']}.",
        f"{s['de']} möchte {np_['de']} kaufen.",
        f"{s['fr']} veut acheter {np_['fr']}.",
        f"{s['es']} quiere comprar {np_['es']}.",
        f"{s['ru']} хочет купить {np_['ru']}.",
        f"{s['zh']}想买{np_['zh']}。")


def t_places(d: Dealer):
    p = d.draw("places", PLACES)
    (dg, dn, _), (fg, fn), (eg, en_), (r_nom, r_ins, _) = p["de"], p["fr"], p["es"], p["ru"]
    r = d.rng.random()
    if r < 0.2:
        polite = d.rng.random() < 0.5
        return done(
            ("Excuse me, where" if polite else "Where") + f" is the {p['en']}?",
            ("Entschuldigung, wo" if polite else "Wo") + f" ist {de_article(dg, dn)}?",
            ("Excusez-moi, où" if polite else "Où") + f" est {fr_article(fg, fn)} ?",
            ("Perdone, ¿dónde" if polite else "¿Dónde") + f" está {es_article(eg, en_)}?",
            ("Извините, где" if polite else "Где") + f" находится {r_nom}?",
            ("请问，" if polite else "") + f"{p['zh']}在哪里？")
    if r < 0.5:
        q = d.draw("places2", PLACES, lambda x: x is not p)
        (qg, qn, _), (qfg, qfn), (qeg, qen), (_, q_ins, _) = q["de"], q["fr"], q["es"], q["ru"]
        if d.rng.random() < 0.6:
            return done(
                f"The {p['en']} is next to the {q['en']}.",
                f"{de_article(dg, dn)} ist neben {de_article(qg, qn, 'dat')}.",
                f"{fr_article(fg, fn)} est à côté {fr_article(qfg, qfn, 'de')}.",
                f"{es_article(eg, en_)} está al lado {es_article(qeg, qen, 'de')}.",
                f"{r_nom} находится рядом с {q_ins}.",
                f"{p['zh']}在{q['zh']}旁边。")
        return done(
            f"The {p['en']} is behind the {q['en']}.",
            f"{de_article(dg, dn)} ist hinter {de_article(qg, qn, 'dat')}.",
            f"{fr_article(fg, fn)} est derrière {fr_article(qfg, qfn)}.",
            f"{es_article(eg, en_)} está detrás {es_article(qeg, qen, 'de')}.",
            f"{r_nom} находится за {q_ins}.",
            f"{p['zh']}在{q['zh']}后面。")
    if r < 0.75:
        s = d.subject()
        return done(
            f"{s['en']} is waiting in front of the {p['en']}.",
            f"{s['de']} wartet vor {de_article(dg, dn, 'dat')}.",
            f"{s['fr']} attend devant {fr_article(fg, fn)}.",
            f"{s['es']} está esperando delante {es_article(eg, en_, 'de')}.",
            f"{s['ru']} ждёт перед {r_ins}.",
            f"{s['zh']}在{p['zh']}前面等。")
    return done(
        f"Is there {en_article(p['en'])} near here?",
        f"Gibt es hier in der Nähe {DE_ARTICLES['indef_acc'][dg]} {dn}?",
        f"Est-ce qu'il y a {fr_article(fg, fn, 'indef')} près d'ici ?",
        f"¿Hay {es_article(eg, en_, 'indef')} cerca de aquí?",
        f"Здесь поблизости есть {r_nom}?",
        f"这附近有{p['zh']}吗？")


def past_times() -> list[dict]:
    days = [{"en": f"On {x['en']}", "de": f"Am {x['de']}", "fr": x["fr"], "es": f"El {x['es']}",
             "ru": x["ru_on"], "zh": x["zh"]} for x in DAYS]
    return PAST_TIMES + days


PAST_TIME_TABLE = past_times()


def t_past(d: Dealer):
    s, a, t = d.subject(), d.draw("activities", ACTIVITIES), d.draw("past_times", PAST_TIME_TABLE)
    i = gidx(s["g"])
    aux, rest = a["de"]
    return done(
        f"{t['en']} {s['en']} {a['en']}.",
        f"{t['de']} {aux} {s['de']} {rest}.",
        f"{t['fr']}, {s['fr']} {a['fr'][i]}.",
        f"{t['es']} {s['es']} {a['es']}.",
        f"{t['ru']} {s['ru']} {a['ru'][i]}.",
        f"{t['zh']}{s['zh']}{a['zh']}。")


def t_drinks(d: Dealer):
    if d.rng.random() < 0.2:
        k = d.draw("drinks", DRINKS)
        return done(
            f"Would you like some {k['en']}?",
            f"Möchtest du {k['de']}?",
            f"Veux-tu {k['fr']} ?",
            f"¿Quieres {k['es']}?",
            f"Хочешь {k['ru'][0]}?",
            f"你想喝{k['zh']}吗？")
    s, t = d.subject(), d.draw("drink_times", DRINK_TIMES)
    k = d.draw("drinks", DRINKS, lambda x: t["evening"] or not x["evening_only"])
    return done(
        f"{s['en']} drinks {k['en']} {t['en']}.",
        f"{s['de']} trinkt {t['de']} {k['de']}.",
        f"{s['fr']} boit {k['fr']} {t['fr']}.",
        f"{s['es']} bebe {k['es']} {t['es']}.",
        f"{s['ru']} пьёт {k['ru'][1]} {t['ru']}.",
        f"{s['zh']}{t['zh']}喝{k['zh']}。")


def t_languages(d: Dealer):
    lang = d.draw("languages", LANGUAGES)
    r = d.rng.random()
    if r < 0.12:
        return done(
            f"Do you speak {lang['en']}?",
            f"Sprichst du {lang['de']}?",
            f"Parles-tu {lang['fr'][1]} ?",
            f"¿Hablas {lang['es']}?",
            f"Ты говоришь {lang['ru'][1]}?",
            f"你会说{lang['zh']}吗？")
    s = d.subject()
    if r < 0.45:
        return done(
            f"{s['en']} is learning {lang['en']}.",
            f"{s['de']} lernt {lang['de']}.",
            f"{s['fr']} apprend {lang['fr'][0]}.",
            f"{s['es']} está aprendiendo {lang['es']}.",
            f"{s['ru']} изучает {lang['ru'][0]}.",
            f"{s['zh']}在学{lang['zh']}。")
    if r < 0.75:
        return done(
            f"{s['en']} speaks {lang['en']} very well.",
            f"{s['de']} spricht sehr gut {lang['de']}.",
            f"{s['fr']} parle très bien {lang['fr'][1]}.",
            f"{s['es']} habla muy bien {lang['es']}.",
            f"{s['ru']} очень хорошо говорит {lang['ru'][1]}.",
            f"{s['zh']}{lang['zh']}说得非常好。")
    return done(
        f"{s['en']} speaks a little {lang['en']}.",
        f"{s['de']} spricht ein bisschen {lang['de']}.",
        f"{s['fr']} parle un peu {lang['fr'][1]}.",
        f"{s['es']} habla un poco de {lang['es']}.",
        f"{s['ru']} немного говорит {lang['ru'][1]}.",
        f"{s['zh']}会说一点{lang['zh']}。")


def t_habit(d: Dealer):
    s, day = d.subject(), d.draw("days", DAYS)
    p = d.draw("goes", PLACES, lambda x: x["goes"])
    fg, fn = p["fr"]
    eg, en_ = p["es"]
    es_to = ("al " if eg == "m" else "a la ") + en_
    return done(
        f"Every {day['en']} {s['en']} goes {p['en_to']}.",
        f"Jeden {day['de']} geht {s['de']} {p['de'][2]}.",
        f"{day['fr_every']}, {s['fr']} va {fr_article(fg, fn, 'a')}.",
        f"{day['es_every']} {s['es']} va {es_to}.",
        f"{day['ru_every']} {s['ru']} ходит {p['ru'][2]}.",
        f"{s['zh']}每个{day['zh']}都去{p['zh']}。")


def t_hobby(d: Dealer):
    s, h, t = d.subject(), d.draw("hobbies", HOBBIES), d.draw("hobby_times", HOBBY_TIMES)
    return done(
        f"{s['en']} {h['en']} {t['en']}.",
        f"{s['de']} spielt {t['de']} {h['de']}.",
        f"{s['fr']} {h['fr']} {t['fr']}.",
        f"{s['es']} {h['es']} {t['es']}.",
        f"{s['ru']} {t['ru']} {h['ru']}.",
        f"{s['zh']}{t['zh']}{h['zh']}。")


def t_count(d: Dealer):
    c, num = d.draw("countables", COUNTABLES), d.number(2, 10)
    loc = LOCATIONS[d.rng.choice(c["where"])]
    return done(
        f"There are {num['en']} {c['en']} {loc['en']}.",
        f"{loc['de']} sind {num['de']} {c['de']}.",
        f"Il y a {num['fr']} {c['fr']} {loc['fr']}.",
        f"Hay {num['es']} {c['es']} {loc['es']}.",
        f"{loc['ru']} {ru_count(num, c['ru_few'], c['ru_many'], c['ru_g'])}.",
        f"{loc['zh']}有{num['zh']}{c['zh_mw']}{c['zh']}。")


def t_months(d: Dealer):
    m = d.draw("months", MONTHS)
    r = d.rng.random()
    if r < 0.45:
        c = d.draw("cities", CITIES)
        return done(
            f"We are going to {c['en']} in {m['en']}.",
            f"Im {m['de']} fahren wir nach {c['de']}.",
            f"En {m['fr']}, nous allons à {c['fr']}.",
            f"En {m['es']} vamos a {c['es']}.",
            f"В {m['ru']} мы едем {c['ru_to']}.",
            f"我们{m['zh']}去{c['zh']}。")
    if r < 0.55:
        return done(
            f"My birthday is in {m['en']}.",
            f"Mein Geburtstag ist im {m['de']}.",
            f"Mon anniversaire est en {m['fr']}.",
            f"Mi cumpleaños es en {m['es']}.",
            f"Мой день рождения в {m['ru']}.",
            f"我的生日在{m['zh']}。")
    s = d.person()
    return done(
        f"{s['en_poss']} birthday is in {m['en']}.",
        f"{s['de_poss']} Geburtstag ist im {m['de']}.",
        f"L'anniversaire {s['fr_of']} est en {m['fr']}.",
        f"El cumpleaños {s['es_of']} es en {m['es']}.",
        f"День рождения {s['ru_gen']} в {m['ru']}.",
        f"{s['zh']}的生日在{m['zh']}。")


def t_feeling(d: Dealer):
    s, f = d.subject(), d.draw("feelings", FEELINGS)
    i = gidx(s["g"])
    return done(
        f"{s['en']} is {f['en']} today.",
        f"{s['de']} {f['de']}.",
        f"{s['fr']} {f['fr'][i]} aujourd'hui.",
        f"{s['es']} {f['es'][i]} hoy.",
        f"{s['ru']} сегодня {f['ru'][i]}.",
        f"{s['zh']}今天{f['zh']}。")


# (template, number of lines); the total is the corpus size.
TEMPLATES = [
    (t_weather, 30), (t_food, 28), (t_shopping, 28), (t_travel, 26), (t_job, 28), (t_family, 24),
    (t_clock, 28), (t_describe, 30), (t_possess, 30), (t_places, 30), (t_past, 34), (t_drinks, 20),
    (t_languages, 26), (t_habit, 22), (t_hobby, 24), (t_count, 24), (t_months, 22), (t_feeling, 26),
]


# =====================================================================================================
# Corpus and dictionaries.
# =====================================================================================================

def build_corpus(seed: int = SEED) -> list[dict[str, str]]:
    """All aligned sentence tuples, English lines unique, in a shuffled but reproducible order."""
    rng = random.Random(seed)
    dealer = Dealer(rng)
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    for template, count in TEMPLATES:
        made, attempts = 0, 0
        while made < count:
            attempts += 1
            if attempts > 50 * count:
                raise RuntimeError(f"{template.__name__}: only {made} distinct sentences of {count}")
            sent = template(dealer)
            if sent["en"] in seen:
                continue
            seen.add(sent["en"])
            out.append(sent)
            made += 1
    rng.shuffle(out)
    return out


def _forms(x) -> list[str]:
    """A gloss cell: None, a string, or a tuple of alternative forms."""
    if x is None:
        return []
    return [x] if isinstance(x, str) else [y for y in x if y]


def _strip(lang: str, phrase: str) -> str:
    """Drop leading function words (articles, prepositions) to get the content word(s) of a slot."""
    lead = {
        "fr": r"^(?:(?:le|la|les|du|des|de|un|une|au|aux|à|en) |l'|d')+",
        "es": r"^(?:(?:el|la|los|las|del|al|un|una|a|en|de) )+",
        "ru": r"^(?:(?:в|во|на|с) )+",
    }.get(lang)
    return re.sub(lead, "", phrase) if lead else phrase


def glossary() -> dict[str, set[tuple[str, str]]]:
    """Dictionary entries per partner language, derived from the lexicons."""
    entries: dict[str, set[tuple[str, str]]] = {x: set() for x in PARTNERS}

    def add(en: str, lang: str, *translations) -> None:
        for t in translations:
            for form in _forms(t):
                entries[lang].add((en, form))

    def add_row(en: str, cells) -> None:  # cells in PARTNERS order
        for lang, cell in zip(PARTNERS, cells):
            add(en, lang, cell)

    for p in NAMES:
        add(p["en"], "ru", p["ru"], p["ru_gen"])
        add(p["en"], "zh", p["zh"])
    for r in RELATIVES:
        add_row(r["en"], [r["de"], r["fr"], r["es"], (r["ru"], r["ru_gen"]), r["zh"]])
    for c in CITIES:
        add_row(c["en"], [c["de"], c["fr"], c["es"], (_strip("ru", c["ru_in"]), _strip("ru", c["ru_to"])), c["zh"]])
    for x in DAYS:
        ru = tuple(_strip("ru", x["ru_on"]).split() + x["ru_every"].split()[1:])
        add_row(x["en"], [x["de"], x["fr"], (x["es"], x["es_every"].split()[-1]), ru, x["zh"]])
    for x in MONTHS:
        add_row(x["en"], [x["de"], x["fr"], x["es"], x["ru"], x["zh"]])
    for x in NUMBERS:
        add_row(x["en"], [x["de"], x["fr"], x["es"], x["ru"], x["zh"]])
    for w in WEATHER:
        for en, cells in w["gloss"].items():
            add_row(en, cells)
    for f in FOODS:
        add_row(f["en"], [f["de"], _strip("fr", f["fr"]), _strip("es", f["es"]), f["ru"], f["zh"]])
    for p in PRODUCE:
        add_row(p["en"], [p["de"], p["fr"], p["es"], (p["ru_few"], p["ru_many"]), p["zh"]])
    for j in JOBS:
        en = j["en"].split(" ", 1)[1]
        add_row(en, [j["de"], j["fr"], j["es"], j["ru"] + j["ru_ins"], j["zh"]])
    for t in THINGS:
        ru = t["ru"][1:] if t["buy"] else t["ru"][1:2]  # the accusative is used only for things bought
        add_row(t["en"], [t["de"][1], t["fr"][1], t["es"][1], ru, t["zh"][1]])
    for a in ADJ_PRED:
        add_row(a["en"], [a["de"], a["fr"], a["es"], a["ru"], a["zh"]])
    for a in ADJ_ATTR:
        de = tuple(a["de"] + e for e in ("en", "e", "es"))
        add_row(a["en"], [de, a["fr"][:2], a["es"], a["ru"] + (a["ru_f_acc"],), a["zh"].rstrip("的")])
    for p in PLACES:
        ru = p["ru"][:2] + ((_strip("ru", p["ru"][2]),) if p["goes"] else ())  # "to" form: only where people go
        add_row(p["en"], [p["de"][1], p["fr"][1], p["es"][1], ru, p["zh"]])
    for t in TRANSPORT:
        for en, cells in t["gloss"].items():
            add_row(en, cells)
    for x in LANGUAGES:
        add_row(x["en"], [x["de"], x["fr"][1], x["es"], (x["ru"][0].split()[0], x["ru"][1]), x["zh"]])
    for x in DRINKS:
        add_row(x["en"], [x["de"], _strip("fr", x["fr"]), x["es"], x["ru"], x["zh"]])
    for f in FEELINGS:
        add_row(f["en"], f["gloss"])
    for a in ACTIVITIES:
        for en, cells in a["gloss"].items():
            add_row(en, cells)
    for h in HOBBIES:
        add_row(*h["gloss"])
    for c in COUNTABLES:
        add_row(c["en"], [c["de"], c["fr"], c["es"], (c["ru_few"], c["ru_many"]), c["zh"]])
    for en, cells in TEMPLATE_GLOSSES.items():
        add_row(en, cells)
    return entries


def coverage(corpus: list[dict[str, str]], lang: str, pairs) -> float:
    """Fraction of entries whose English side occurs as a whole word in some English line while the
    translation occurs (as a substring) in the aligned ``lang`` line (case-insensitive)."""
    en_lines = [s["en"].lower() for s in corpus]
    xx_lines = [s[lang].lower() for s in corpus]
    hit = 0
    for en, tr in pairs:
        pat = re.compile(r"(?<!\w)" + re.escape(en.lower()) + r"(?!\w)")
        tr = tr.lower()
        hit += any(tr in x and pat.search(e) for e, x in zip(en_lines, xx_lines))
    return hit / max(1, len(pairs))


# =====================================================================================================
# Output.
# =====================================================================================================

def write_text(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(line + "\n" for line in lines))


LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish",
                  "ru": "Russian (Cyrillic)", "zh": "Chinese (Simplified Han, no spaces between words)"}

README = """\
# Demo corpus

A small, synthetic, multi-way parallel corpus for the quickstart and the tests: {n_lines} sentences in
{n_langs} languages, line-aligned (line *i* of every file translates line *i* of `en.txt`), plus small
English-centred bilingual dictionaries for the token-level (synonym) objective.

It is **synthetic and written by this project**: the sentences are composed by
`tools/make_demo_corpus.py` from hand-written templates (weather, food, shopping, travel, work, family,
time of day, descriptions, places in town, past events, drinks, languages, hobbies, months, feelings, ...)
and hand-written per-language lexicons. No external dataset was used. Licence: the same as the project,
Apache-2.0.

It is meant for smoke tests and demonstrations, not for training a useful model: the vocabulary is a
few hundred words per language and the sentences are short and repetitive.

## Regenerating

```bash
python tools/make_demo_corpus.py
```

The generator uses only the Python standard library and a fixed seed (`random.Random({seed})`):
running it again rewrites byte-identical files (this README included).

The demo tokenizer in `tokenizer/` (SentencePiece Unigram, XLM-R special ids, 2537 entries) is
trained on these six files with the project's own command:

```bash
veco-train-tokenizer --output_dir veco_lightning/resources/demo/tokenizer --vocab_size 4000 \\
  --files '{{en: [pkg://veco_lightning/resources/demo/en.txt], de: [pkg://veco_lightning/resources/demo/de.txt], fr: [pkg://veco_lightning/resources/demo/fr.txt], es: [pkg://veco_lightning/resources/demo/es.txt], ru: [pkg://veco_lightning/resources/demo/ru.txt], zh: [pkg://veco_lightning/resources/demo/zh.txt]}}'
```

(The Unigram trainer stops at 2537 entries on this little text; training is deterministic.)

## Layout

```
{layout}
```

| file | language | lines |
|---|---|---|
{line_table}

All files are UTF-8, one sentence per line, no empty lines, `\\n` line endings with a trailing newline.
The English lines are unique.

## Dictionaries

`dict/en-xx.tsv` follows the MUSE format: `english<TAB>translation`, one pair per line, sorted by the
English side. A word may have several translations, one per line (for example the inflected forms used
in the sentences: Russian cases, German adjective endings, French/Spanish gender forms). Entries keep
their natural case (German nouns and proper names capitalised); either side may contain spaces
(multi-word entries such as `post office`). The entries are the content words of the lexicons (names,
cities, days, months, numbers, colours, food, objects, places, professions, verbs in the forms used,
...) plus a few frequent template words.

*Coverage* is the fraction of entries whose English side occurs as a whole word in some English line
while the translation occurs in the aligned line (case-insensitive).

| file | entries | coverage |
|---|---|---|
{dict_table}
"""


def write_readme(out: Path, corpus: list[dict[str, str]], dict_stats: dict[str, tuple[int, float]]) -> None:
    layout = "\n".join(
        [f"{lang}.txt" for lang in LANGS] + ["dict/"] + [f"  en-{lang}.tsv" for lang in PARTNERS] + ["README.md"])
    line_table = "\n".join(f"| `{lang}.txt` | {LANGUAGE_NAMES[lang]} | {len(corpus)} |" for lang in LANGS)
    dict_table = "\n".join(
        f"| `dict/en-{lang}.tsv` | {n} | {cov:.1%} |" for lang, (n, cov) in dict_stats.items())
    text = README.format(n_lines=len(corpus), n_langs=len(LANGS), seed=SEED, layout=layout,
                         line_table=line_table, dict_table=dict_table)
    write_text(out / "README.md", text.rstrip("\n").split("\n"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: the package's)")
    args = parser.parse_args(argv)

    corpus = build_corpus()
    for lang in LANGS:
        lines = [s[lang] for s in corpus]
        assert all(line and "\t" not in line and "\n" not in line for line in lines), lang
        write_text(args.out / f"{lang}.txt", lines)
    print(f"wrote {len(corpus)} aligned lines x {len(LANGS)} languages to {args.out}")

    entries = glossary()
    dict_stats: dict[str, tuple[int, float]] = {}
    for lang in PARTNERS:
        pairs = sorted(entries[lang], key=lambda p: (p[0].lower(), p[0], p[1]))
        write_text(args.out / "dict" / f"en-{lang}.tsv", [f"{en}\t{tr}" for en, tr in pairs])
        dict_stats[lang] = (len(pairs), coverage(corpus, lang, pairs))
        print(f"  dict/en-{lang}.tsv: {len(pairs)} entries, coverage {dict_stats[lang][1]:.1%}")
    write_readme(args.out, corpus, dict_stats)


if __name__ == "__main__":
    main()
