"""A small labelled relevance set: 40 gift products, 6 taste profiles, graded labels 0-3.

Written by hand for the recommendation tests. Grades say how good a gift the
product is for the profile: 3 a great match, 2 a good one, 1 plausible, 0
(unlisted) not relevant. A product outside a profile's budget, or matching
one of its dislikes, is graded 0 whatever its theme: the hard filters must
remove it, so it can never count as a hit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class ProductSpec:
    key: str
    title: str
    brand: str
    description: str
    price: Decimal
    tags: tuple[str, ...]
    occasions: tuple[str, ...] = ()
    recipient_types: tuple[str, ...] = ()
    featured: bool = False

    def enrichment(self) -> dict[str, Any]:
        """The JSON enrichment stores (the offline tagger is not run in these tests: labels stay fixed)."""
        return {
            "tags": list(self.tags),
            "occasions": list(self.occasions),
            "recipient_types": list(self.recipient_types),
            "summary": self.description,
        }


@dataclass(frozen=True)
class ProfileSpec:
    key: str
    answers: dict[str, Any]
    #: Product key -> grade (1-3); unlisted products are 0.
    grades: dict[str, int] = field(default_factory=dict)


P = ProductSpec
PRODUCTS: tuple[ProductSpec, ...] = (
    P(
        "p01",
        "Burr Coffee Grinder",
        "GrindHaus",
        "Conical burr grinder for fresh espresso and pour-over coffee beans.",
        Decimal("89"),
        ("coffee",),
        ("birthday",),
        ("partner", "friend"),
        featured=True,
    ),
    P(
        "p02",
        "Gooseneck Pour-Over Kettle",
        "BrewCraft",
        "Precise gooseneck kettle for slow pour-over coffee brewing.",
        Decimal("45"),
        ("coffee",),
        ("housewarming",),
    ),
    P(
        "p03",
        "Single-Origin Coffee Beans Sampler",
        "Roast Atlas",
        "Six bags of specialty roasted coffee beans from Ethiopia, Colombia and Guatemala.",
        Decimal("32"),
        ("coffee", "gourmet"),
        ("thank_you",),
    ),
    P(
        "p04",
        "Ceramic Espresso Cups",
        "Atelier Terre",
        "Set of four hand-glazed ceramic espresso cups and saucers.",
        Decimal("28"),
        ("coffee", "home_decor"),
        ("housewarming",),
    ),
    P(
        "p05",
        "Loose Leaf Tea Collection",
        "Leaf & Kettle",
        "Twelve tins of loose leaf green, black and herbal tea.",
        Decimal("30"),
        ("tea", "gourmet"),
        ("thank_you",),
    ),
    P(
        "p06",
        "Cast Iron Teapot",
        "Tetsu",
        "Japanese cast iron teapot with a stainless steel infuser.",
        Decimal("55"),
        ("tea",),
    ),
    P(
        "p07",
        "Lightweight Hiking Backpack",
        "TrailMate",
        "A 30 litre daypack for hiking and weekend trail adventures.",
        Decimal("79"),
        ("outdoors", "travel"),
        ("birthday",),
        featured=True,
    ),
    P(
        "p08",
        "Two-Person Camping Tent",
        "Summit Gear",
        "Waterproof backpacking tent for two, pitches in minutes.",
        Decimal("149"),
        ("outdoors",),
    ),
    P(
        "p09",
        "Carbon Trekking Poles",
        "TrailMate",
        "Collapsible trekking poles for hiking steep mountain trails.",
        Decimal("59"),
        ("outdoors", "fitness"),
    ),
    P(
        "p10",
        "Insulated Trail Water Bottle",
        "Hydro Peak",
        "Keeps water cold for 24 hours on long hikes and runs.",
        Decimal("25"),
        ("outdoors", "sustainable"),
    ),
    P(
        "p11",
        "Cork Yoga Mat",
        "Asana Earth",
        "Non-slip natural cork yoga mat for daily yoga and stretching.",
        Decimal("65"),
        ("fitness", "wellness", "sustainable"),
    ),
    P(
        "p12",
        "GPS Running Watch",
        "Pacer",
        "Running watch with GPS, heart rate and training plans.",
        Decimal("199"),
        ("fitness", "tech"),
    ),
    P(
        "p13",
        "Adjustable Dumbbells",
        "IronWorks",
        "A pair of adjustable dumbbells for strength workouts at home.",
        Decimal("120"),
        ("fitness",),
    ),
    P(
        "p14",
        "Damascus Chef's Knife",
        "Kiru",
        "Razor-sharp 8 inch chef's knife for everyday cooking.",
        Decimal("95"),
        ("cooking",),
        ("wedding",),
    ),
    P(
        "p15",
        "Cast Iron Skillet",
        "Hearth & Pan",
        "Pre-seasoned cast iron skillet for searing and oven cooking.",
        Decimal("40"),
        ("cooking",),
        ("housewarming",),
    ),
    P(
        "p16",
        "World Spice Blend Collection",
        "Spice Route",
        "Ten spice blends for curries, tagines and grilling.",
        Decimal("26"),
        ("cooking", "gourmet"),
    ),
    P(
        "p17",
        "Sourdough Bread Baking Kit",
        "Crumb Club",
        "Banneton basket, starter culture and scoring lame for sourdough bread.",
        Decimal("38"),
        ("baking",),
    ),
    P(
        "p18",
        "Stand Mixer",
        "Whisk Pro",
        "Powerful stand mixer for bread dough, cakes and pastry.",
        Decimal("299"),
        ("baking", "cooking"),
        ("wedding",),
    ),
    P(
        "p19",
        "Mystery Novel Box Set",
        "Inkwell Press",
        "Five classic detective and mystery novels in a gift box.",
        Decimal("35"),
        ("books",),
        ("birthday",),
    ),
    P(
        "p20",
        "E-Reader with Warm Light",
        "PageGlow",
        "Glare-free e-reader tech gadget with adjustable warm light for reading at night.",
        Decimal("139"),
        ("books", "tech"),
    ),
    P(
        "p21",
        "Clip-On Book Reading Light",
        "Nightowl",
        "Rechargeable clip-on reading light for books in bed.",
        Decimal("18"),
        ("books",),
        ("thank_you",),
    ),
    P(
        "p22",
        "Wireless Game Controller",
        "PixelPlay",
        "Ergonomic wireless controller for console and PC video games.",
        Decimal("59"),
        ("gaming", "tech"),
    ),
    P(
        "p23",
        "Strategy Board Game",
        "Meeple Works",
        "A tactical board game for two to five players, for game nights.",
        Decimal("45"),
        ("gaming", "puzzles"),
        ("christmas",),
    ),
    P(
        "p24",
        "Noise-Cancelling Headphones",
        "Sonora",
        "Wireless over-ear headphones with active noise cancelling.",
        Decimal("249"),
        ("tech", "music"),
        featured=True,
    ),
    P(
        "p25",
        "Smart Plug Starter Kit",
        "HomeLogic",
        "Four smart plugs to control lamps and gadgets from your phone.",
        Decimal("35"),
        ("tech",),
    ),
    P(
        "p26",
        "Vinyl Record Player",
        "Groove",
        "Belt-drive turntable with built-in speakers for vinyl records.",
        Decimal("129"),
        ("music",),
        ("birthday",),
        featured=True,
    ),
    P(
        "p27",
        "Classic Jazz Vinyl Collection",
        "Blue Room Records",
        "Three remastered jazz albums on 180g vinyl records.",
        Decimal("48"),
        ("music",),
    ),
    P(
        "p28",
        "Lavender Bath Salts Set",
        "Calm Co",
        "Relaxing lavender and eucalyptus bath salts for a spa night.",
        Decimal("22"),
        ("wellness",),
        ("mothers_day",),
    ),
    P(
        "p29",
        "Aromatherapy Diffuser",
        "Calm Co",
        "Ultrasonic essential oil diffuser with soft ambient light.",
        Decimal("39"),
        ("wellness", "home_decor"),
    ),
    P(
        "p30",
        "Chunky Knit Blanket",
        "Woolly",
        "Hand-knitted chunky merino blanket for cozy nights on the sofa.",
        Decimal("85"),
        ("cozy", "home_decor"),
        ("christmas",),
    ),
    P(
        "p31",
        "Soy Candle Trio",
        "Glow",
        "Three scented soy wax candles: fig, cedar and vanilla.",
        Decimal("29"),
        ("home_decor", "cozy"),
        ("thank_you",),
    ),
    P(
        "p32",
        "Shiatsu Neck Massager",
        "Kneadwell",
        "Heated shiatsu massager for neck and shoulder tension.",
        Decimal("69"),
        ("wellness",),
        ("fathers_day",),
    ),
    P(
        "p33",
        "Herb Garden Starter Kit",
        "Green Sprout",
        "Grow basil, parsley and thyme on a windowsill: pots, soil and seeds.",
        Decimal("29"),
        ("gardening", "cooking"),
    ),
    P(
        "p34",
        "Bypass Pruning Shears",
        "Green Sprout",
        "Sharp steel pruning shears for roses, shrubs and garden plants.",
        Decimal("35"),
        ("gardening",),
    ),
    P(
        "p35",
        "Orthopedic Dog Bed",
        "Pawsome",
        "Memory foam dog bed for older dogs with a washable cover.",
        Decimal("75"),
        ("pets",),
    ),
    P(
        "p36",
        "Interactive Cat Toy",
        "Pawsome",
        "Feather wand and laser cat toy that keeps indoor cats playing.",
        Decimal("15"),
        ("pets",),
    ),
    P(
        "p37",
        "Crystal Wine Decanter",
        "Vino Luce",
        "Hand-blown crystal decanter that lets red wine breathe.",
        Decimal("49"),
        ("wine",),
        ("anniversary",),
    ),
    P(
        "p38",
        "Cocktail Shaker Set",
        "Barkeep",
        "Shaker, jigger and strainer for mixing cocktails at home.",
        Decimal("42"),
        ("wine",),
    ),
    P(
        "p39",
        "Watercolour Paint Set",
        "Brushwork",
        "Artist watercolour paints with brushes and a sketchbook.",
        Decimal("34"),
        ("art",),
    ),
    P(
        "p40",
        "Pottery Class Voucher",
        "Clay Studio",
        "A three-hour wheel-throwing pottery class for one.",
        Decimal("90"),
        ("art", "experiences"),
    ),
)

PROFILES: tuple[ProfileSpec, ...] = (
    ProfileSpec(
        "coffee_hiker",
        {
            "interests": ["specialty coffee", "hiking", "camping"],
            "dislikes": ["candles"],
            "style": "outdoorsy",
            "about": "Loves weekend trail hikes and brewing espresso at home",
            "budget_min": 20,
            "budget_max": 100,
            "recipient": {"relationship": "partner", "age_range": "30-40"},
        },
        # p08 (tent) is over budget: 0.
        {"p01": 3, "p02": 3, "p03": 3, "p07": 3, "p09": 2, "p04": 2, "p10": 2, "p05": 1, "p06": 1},
    ),
    ProfileSpec(
        "home_chef",
        {
            "interests": ["cooking", "baking bread", "fresh herbs"],
            "dislikes": ["gadgets"],
            "style": "practical",
            "about": "Always experimenting in the kitchen with new recipes",
            "budget_min": 20,
            "budget_max": 100,
            "recipient": {"relationship": "mother"},
        },
        # p18 (stand mixer) is over budget; p25 (gadgets) disliked: 0.
        {"p14": 3, "p15": 3, "p16": 3, "p17": 3, "p33": 3, "p03": 1, "p05": 1, "p34": 1},
    ),
    ProfileSpec(
        "bookworm",
        {
            "interests": ["reading", "mystery novels", "cozy evenings"],
            "dislikes": ["tech"],
            "about": "Curls up with a good book and a cup of tea every evening",
            "budget_min": 10,
            "budget_max": 90,
            "recipient": {"relationship": "friend"},
        },
        # p20 (e-reader) is tagged tech, a dislike: 0.
        {"p19": 3, "p21": 3, "p30": 2, "p31": 2, "p05": 2, "p06": 1, "p28": 1},
    ),
    ProfileSpec(
        "runner_yogi",
        {
            "interests": ["yoga", "running", "relaxation"],
            "dislikes": ["wine", "alcohol"],
            "style": "active",
            "about": "Trains for half marathons and unwinds with yoga and a hot bath",
            "budget_min": 15,
            "budget_max": 150,
        },
        # p12 (running watch) is over budget; p37, p38 disliked: 0.
        {"p11": 3, "p28": 2, "p32": 2, "p13": 2, "p09": 1, "p10": 2, "p29": 1},
    ),
    ProfileSpec(
        "music_gamer",
        {
            "interests": ["vinyl records", "jazz", "board games"],
            "dislikes": ["coffee"],
            "about": "Hosts game nights with friends and collects old records",
            "budget_min": 20,
            "budget_max": 150,
            "recipient": {"relationship": "brother"},
        },
        # p24 (headphones) is over budget: 0.
        {"p26": 3, "p27": 3, "p23": 3, "p22": 2, "p19": 1},
    ),
    ProfileSpec(
        "gardener",
        {
            "interests": ["gardening", "dogs", "plants"],
            "style": "homely",
            "about": "Spends every weekend in the garden with her old dog",
            "recipient": {"relationship": "grandmother", "age_range": "70+"},
        },
        {"p33": 3, "p34": 3, "p35": 3, "p36": 1, "p30": 1, "p28": 1},
    ),
)

PRODUCTS_BY_KEY = {p.key: p for p in PRODUCTS}
PROFILES_BY_KEY = {p.key: p for p in PROFILES}

#: Product vectors already made in this process, by (model name, text): many tests create this
#: catalog, and the offline models are deterministic (the default spends ~10 ms on a text).
_VECTORS: dict[tuple[str, str], list[float]] = {}


def embed_once(provider: Any, texts: list[str]) -> list[list[float]]:
    """`provider.embed(texts)`, each text embedded once per process by the shipped offline models.

    Any other provider (the recording one, whose calls tests assert, a test
    subclass, a remote one) is called every time.
    """
    from gifting_jobs.providers.embeddings.minilm import MiniLMEmbeddingProvider
    from gifting_jobs.providers.embeddings.wordllama import WordLlamaEmbeddingProvider

    if type(provider) not in (MiniLMEmbeddingProvider, WordLlamaEmbeddingProvider):
        vectors: list[list[float]] = provider.embed(texts)
        return vectors
    missing = [text for text in dict.fromkeys(texts) if (provider.model_name, text) not in _VECTORS]
    if missing:
        for text, vector in zip(missing, provider.embed(missing), strict=True):
            _VECTORS[(provider.model_name, text)] = vector
    return [_VECTORS[(provider.model_name, text)] for text in texts]


def create_products(specs: tuple[ProductSpec, ...] = PRODUCTS) -> dict[str, Any]:
    """Save the products, PUBLISHED and visible, embedded by the configured provider (`embed_once`); by key.

    `bulk_create` sends no `post_save`: no product job is enqueued, so the
    hand-written enrichment stays as labelled.
    """
    from gifting_jobs.models import Product, ProductStatus
    from gifting_jobs.providers.embeddings import get_embedding_provider

    provider = get_embedding_provider()
    products = [
        Product(
            external_id=f"relevance-{spec.key}",
            title=spec.title,
            brand=spec.brand,
            description=spec.description,
            price=spec.price,
            currency="EUR",
            status=ProductStatus.PUBLISHED,
            visible_to_gifter=True,
            is_featured=spec.featured,
            enrichment=spec.enrichment(),
            enrichment_version="relevance-set",
        )
        for spec in specs
    ]
    vectors = embed_once(provider, [p.embedding_text() for p in products])
    for product, vector in zip(products, vectors, strict=True):
        product.embedding = vector
        product.embedding_text_hash = product.text_hash()
        product.embedding_model = provider.model_name
    Product.objects.bulk_create(products)
    return {spec.key: product for spec, product in zip(specs, products, strict=True)}


def create_profile(user: Any, answers: dict[str, Any], *, recipient: Any = None, embed: bool = True) -> Any:
    """A completed taste profile with these answers (and facets), embedded by the real job's work unless not `embed`."""
    from django.utils import timezone

    from gifting_jobs.answers import derive_facets, parse_answers
    from gifting_jobs.models import TasteProfile
    from gifting_jobs.payloads import TasteProfileEmbeddingPayload
    from gifting_jobs.work.profiles import embed_taste_profile

    parsed = parse_answers(answers)
    profile = TasteProfile.objects.create(
        user=user,
        recipient=recipient,
        answers=parsed.model_dump(mode="json", exclude_unset=True),
        facets=derive_facets(parsed),
        completed_at=timezone.now(),
    )
    if embed:
        embed_taste_profile(
            TasteProfileEmbeddingPayload(
                taste_profile_id=profile.pk, user_id=user.pk, recipient_id=profile.recipient_id, triggered_by="manual"
            )
        )
        profile.refresh_from_db()
    return profile
