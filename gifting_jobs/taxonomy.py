"""The fixed gift taxonomy: the only tags, occasions and recipient types enrichment may use.

Each entry has a slug (stored), a label (shown to people) and a description
(what zero-shot tagging compares a product's text with). Collections take
their themes from these tags; dislikes are matched against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Term:
    slug: str
    label: str
    description: str


GIFT_TAGS: tuple[Term, ...] = (
    Term("coffee", "Coffee lovers", "coffee beans, espresso machines, grinders, pour-over kettles and mugs"),
    Term("tea", "Tea time", "loose leaf tea, teapots, infusers and tea sets"),
    Term("cooking", "Home chefs", "kitchen tools, cookware, knives, spices and cookbooks"),
    Term("baking", "Baking", "baking pans, stand mixers, pastry tools and baking books"),
    Term("wine", "Wine & spirits", "wine, whisky, cocktail sets, decanters and glasses"),
    Term("gourmet", "Gourmet treats", "chocolate, cheese, sweets, snacks and gourmet food hampers"),
    Term("outdoors", "Outdoors", "hiking, camping gear, backpacks, tents and trail equipment"),
    Term("fitness", "Fitness", "workout gear, yoga mats, running equipment, weights and sports trackers"),
    Term("cycling", "Cycling", "bicycles, bike lights, helmets and cycling accessories"),
    Term("gardening", "Gardening", "plants, seeds, garden tools, planters and greenhouse kits"),
    Term("tech", "Tech & gadgets", "electronics, smart devices, chargers, headphones and gadgets"),
    Term("gaming", "Gaming", "video games, consoles, controllers and board games"),
    Term("music", "Music", "vinyl records, instruments, speakers and music accessories"),
    Term("photography", "Photography", "cameras, lenses, tripods and photo printers"),
    Term("books", "Books & reading", "novels, books, e-readers, bookmarks and reading lights"),
    Term("art", "Art & crafts", "painting supplies, sketchbooks, craft kits, knitting and pottery"),
    Term("stationery", "Stationery", "notebooks, fountain pens, planners and desk accessories"),
    Term("home_decor", "Home decor", "candles, vases, wall art, cushions and decorative objects"),
    Term("cozy", "Cozy at home", "blankets, slippers, loungewear, hot water bottles and comfort"),
    Term("wellness", "Wellness & spa", "bath salts, massage tools, aromatherapy, skincare and relaxation"),
    Term("beauty", "Beauty", "makeup, perfume, skincare sets and grooming"),
    Term("fashion", "Fashion", "clothing, scarves, hats, bags and shoes"),
    Term("jewelry", "Jewelry & watches", "necklaces, rings, earrings, bracelets and watches"),
    Term("travel", "Travel", "luggage, travel organisers, passport holders and travel accessories"),
    Term("kids", "For kids", "toys, children's books, educational games and plush animals"),
    Term("baby", "Baby", "baby clothes, nursery items, baby care and teething toys"),
    Term("pets", "Pet lovers", "dog and cat toys, pet beds, leashes and treats"),
    Term("experiences", "Experiences", "classes, tickets, tastings, workshops and memorable experiences"),
    Term("personalized", "Personalised", "engraved, monogrammed, custom-printed and personalised keepsakes"),
    Term("sustainable", "Sustainable", "eco-friendly, reusable, recycled and zero-waste products"),
    Term("luxury", "Luxury", "premium, designer and high-end luxury items"),
    Term("office", "Work & office", "desk organisers, laptop bags, ergonomic accessories"),
    Term("grilling", "Grilling & BBQ", "barbecue grills, smokers, grilling tools and sauces"),
    Term("puzzles", "Puzzles & brain games", "jigsaw puzzles, logic games, crosswords and brain teasers"),
    Term("film", "Film & TV", "movie memorabilia, projectors, popcorn makers and film collections"),
    Term("science", "Science & learning", "telescopes, microscopes, science kits and learning tools"),
)

OCCASIONS: tuple[Term, ...] = (
    Term("birthday", "Birthday", "a birthday present"),
    Term("anniversary", "Anniversary", "a romantic anniversary gift"),
    Term("christmas", "Christmas", "a Christmas or holiday gift"),
    Term("valentines", "Valentine's Day", "a romantic Valentine's gift"),
    Term("mothers_day", "Mother's Day", "a gift for a mother"),
    Term("fathers_day", "Father's Day", "a gift for a father"),
    Term("graduation", "Graduation", "a graduation gift for a new chapter"),
    Term("housewarming", "Housewarming", "a gift for a new home"),
    Term("wedding", "Wedding", "a wedding gift for a couple"),
    Term("thank_you", "Thank you", "a small thank-you gift"),
    Term("new_baby", "New baby", "a gift for new parents and their baby"),
)

RECIPIENT_TYPES: tuple[Term, ...] = (
    Term("partner", "Partner", "a romantic partner, husband, wife, boyfriend or girlfriend"),
    Term("parent", "Parent", "a mother or father"),
    Term("friend", "Friend", "a close friend"),
    Term("colleague", "Colleague", "a coworker or boss"),
    Term("child", "Child", "a child or teenager"),
    Term("grandparent", "Grandparent", "a grandmother or grandfather"),
    Term("sibling", "Sibling", "a brother or sister"),
    Term("host", "Host", "someone hosting you"),
)

#: Price bands by upper bound (inclusive), in the catalog currency.
PRICE_BANDS: tuple[tuple[str, Decimal | None], ...] = (
    ("budget", Decimal("25")),
    ("mid", Decimal("75")),
    ("premium", Decimal("200")),
    ("luxury", None),
)

TAG_SLUGS = frozenset(t.slug for t in GIFT_TAGS)
OCCASION_SLUGS = frozenset(t.slug for t in OCCASIONS)
RECIPIENT_SLUGS = frozenset(t.slug for t in RECIPIENT_TYPES)
PRICE_BAND_SLUGS = frozenset(slug for slug, _ in PRICE_BANDS)
TAG_LABELS = {t.slug: t.label for t in GIFT_TAGS}


def price_band(price: Decimal | None) -> str | None:
    """The band a price falls in, or None when the product has no price."""
    if price is None:
        return None
    for slug, ceiling in PRICE_BANDS:
        if ceiling is None or price <= ceiling:
            return slug
    return PRICE_BANDS[-1][0]
