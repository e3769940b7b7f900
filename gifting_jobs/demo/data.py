"""The demo's content: a gift catalog as CMS webhook documents, three taste profiles, one occasion.

Written for the demo (every product, brand and text is made up). The catalog
is a compact table per gift theme of `gifting_jobs.taxonomy`; `catalog()`
deals the themes out a few products at a time, the demo profiles' themes
first, so that the first N documents (`--products N`) still make themes
with enough products for collections and give every profile something to
choose from. Each document has a fixed `updatedAt`, so loading it again is a
redelivery that changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

#: Prefix of every demo product's CMS id: tells the demo's rows apart from any other.
ID_PREFIX = "demo-"
#: The catalog currency.
CURRENCY = "EUR"
#: `updatedAt` of the first row of the table; each next row is a minute later.
FIRST_UPDATED_AT = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
#: Products dealt from one theme before the next theme's turn: a collection needs 4.
DEAL_SIZE = 4

#: Rows per theme: (key, title, brand, price in EUR, CMS tags, description).
Row = tuple[str, str, str, float, tuple[str, ...], str]

_CATALOG: dict[str, tuple[Row, ...]] = {
    "coffee": (
        (
            "c01",
            "Single-Origin Ethiopian Coffee Beans",
            "Hillside Roasters",
            18,
            ("coffee", "beans"),
            "Bright, floral whole beans from Yirgacheffe, roasted in small batches every week. "
            "Notes of jasmine and blueberry make them a favourite for pour-over.",
        ),
        (
            "c02",
            "Hand Coffee Grinder with Ceramic Burrs",
            "Grindwell",
            45,
            ("coffee", "kitchen"),
            "A compact manual grinder with adjustable ceramic burrs, from espresso-fine to French-press coarse. "
            "Quiet, portable and built to last for years.",
        ),
        (
            "c03",
            "Gooseneck Pour-Over Kettle",
            "Bloom & Brew",
            59,
            ("coffee", "kitchen"),
            "A stovetop kettle with a slender spout for a slow, even pour. "
            "The thermometer in the lid helps hit the sweet spot for filter coffee.",
        ),
        (
            "c04",
            "Stovetop Espresso Maker, 6 Cups",
            "Moka Casa",
            38,
            ("coffee",),
            "The classic Italian aluminium moka pot that brews rich, strong coffee on any hob.",
        ),
        (
            "c05",
            "Coffee Tasting Subscription, 3 Months",
            "Hillside Roasters",
            72,
            ("coffee", "subscription"),
            "Freshly roasted beans from a different origin every month, with tasting notes to compare. "
            "A gift that keeps arriving.",
        ),
        (
            "c06",
            "Double-Walled Espresso Glasses, Set of 4",
            "Clearcup",
            24,
            ("coffee", "glassware"),
            "Insulated glasses that keep espresso hot and fingers cool, and show off the crema.",
        ),
        (
            "c07",
            "Compact Espresso Machine with Steam Wand",
            "Barista Home",
            329,
            ("coffee", "appliance"),
            "A 15-bar espresso machine with a steam wand for lattes and flat whites at home. "
            "It heats up in under a minute.",
        ),
        (
            "c08",
            "Cold Brew Coffee Carafe",
            "Bloom & Brew",
            32,
            ("coffee", "summer"),
            "A glass carafe with a fine mesh filter: add ground coffee and water in the evening "
            "and wake up to smooth, mellow cold brew.",
        ),
    ),
    "tea": (
        (
            "t01",
            "Loose Leaf Tea Discovery Box",
            "Leaf & Kettle",
            34,
            ("tea", "sampler"),
            "Twelve loose leaf teas, from Darjeeling black to Japanese sencha, each in a resealable tin. "
            "A lovely way to find a new favourite.",
        ),
        (
            "t02",
            "Cast Iron Teapot with Infuser",
            "Tetsu Home",
            62,
            ("tea", "teaware"),
            "A Japanese-style cast iron teapot that keeps tea warm for ages. "
            "The stainless steel infuser lifts out for a perfect brew.",
        ),
        (
            "t03",
            "Matcha Ceremony Set",
            "Uji Garden",
            56,
            ("tea", "japan"),
            "Ceremonial grade matcha with a bamboo whisk, a scoop and a ceramic bowl: "
            "everything for a calm, bright green cup.",
        ),
        (
            "t04",
            "Glass Tea Tumbler with Strainer",
            "Leaf & Kettle",
            22,
            ("tea", "on the go"),
            "A double-walled glass bottle with a removable strainer, for loose leaf tea on the go.",
        ),
        (
            "t05",
            "Herbal Sleep Tea Collection",
            "Nightfall Botanicals",
            16,
            ("tea", "sleep"),
            "Chamomile, lavender and lemon balm blends to wind down in the evening. Caffeine free and gently calming.",
        ),
    ),
    "cooking": (
        (
            "k01",
            "Japanese Chef's Knife, 20 cm",
            "Kiritsu",
            129,
            ("kitchen", "knives"),
            "A hand-sharpened Damascus steel chef's knife with a balanced walnut handle. "
            "It glides through herbs, vegetables and fish.",
        ),
        (
            "k02",
            "Enamelled Cast Iron Casserole, 24 cm",
            "Cocotte & Co",
            149,
            ("kitchen", "cookware"),
            "A heavy casserole for slow braises, stews and crusty bread, going from hob to oven to table.",
        ),
        (
            "k03",
            "World Spice Collection",
            "Spice Route",
            39,
            ("kitchen", "spices"),
            "Sixteen spices and blends, from ras el hanout to smoked paprika, with a recipe card for each.",
        ),
        (
            "k04",
            "Fresh Pasta Making Kit",
            "Nonna's Table",
            49,
            ("kitchen", "italian"),
            "A beechwood board, rolling pin, ravioli stamp and cutter for homemade pasta, "
            "with a booklet of family recipes.",
        ),
        (
            "k05",
            "End-Grain Walnut Cutting Board",
            "Timber Table",
            85,
            ("kitchen", "wood"),
            "A thick end-grain board in solid walnut, kind to knife edges and handsome enough to serve on.",
        ),
        (
            "k06",
            "Cookbook: Weeknight Vegetables",
            "Greenleaf Press",
            26,
            ("cookbook", "vegetarian"),
            "Ninety quick, colourful vegetable recipes for busy evenings, from crispy gnocchi traybakes "
            "to ten-minute noodles.",
        ),
        (
            "k07",
            "Olive Oil Tasting Trio",
            "Oliveto",
            42,
            ("kitchen", "gourmet"),
            "Three extra virgin olive oils from Crete, Puglia and Andalusia, with tasting notes and pairing ideas.",
        ),
        (
            "k08",
            "Granite Mortar and Pestle",
            "Spice Route",
            29,
            ("kitchen",),
            "A heavy granite mortar for grinding spices, pounding pesto and making curry pastes the traditional way.",
        ),
    ),
    "outdoors": (
        (
            "o01",
            "Lightweight Hiking Daypack, 22 L",
            "Ridgeline",
            79,
            ("hiking", "backpack"),
            "A ventilated daypack with a rain cover, hip belt and hydration sleeve for long days on the trail.",
        ),
        (
            "o02",
            "Two-Person Backpacking Tent",
            "Ridgeline",
            219,
            ("camping", "tent"),
            "A freestanding tent under 2 kg that pitches in minutes, with two doors and a full rain fly.",
        ),
        (
            "o03",
            "Insulated Camping Mugs, Set of 2",
            "Campfire Co",
            28,
            ("camping", "mug"),
            "Two stainless steel mugs with lids that keep drinks hot by the campfire and cold at the lake.",
        ),
        (
            "o04",
            "Rechargeable Headlamp, 400 lm",
            "Trailglow",
            34,
            ("hiking", "camping"),
            "A bright, light headlamp with a red night mode and USB-C charging, for night hikes and camp chores.",
        ),
        (
            "o05",
            "National Park Trail Map Print",
            "Contour Studio",
            45,
            ("maps", "hiking"),
            "A contour-line print of a favourite national park, framed in oak: "
            "a reminder of the trails walked together.",
        ),
        (
            "o06",
            "Merino Hiking Socks, 3 Pairs",
            "Ridgeline",
            36,
            ("hiking", "merino"),
            "Cushioned merino wool socks that stay warm, dry and fresh over many miles.",
        ),
        (
            "o07",
            "Folding Camping Stove",
            "Campfire Co",
            49,
            ("camping", "cooking"),
            "A compact gas stove that boils water in three minutes and packs away inside its own pot.",
        ),
        (
            "o08",
            "Travel Hammock with Tree Straps",
            "Lazy Pines",
            39,
            ("camping", "relax"),
            "A parachute-nylon hammock that packs to the size of a grapefruit and hangs between two trees in minutes.",
        ),
    ),
    "fitness": (
        (
            "f01",
            "Cork Yoga Mat",
            "Asana Earth",
            68,
            ("yoga", "eco"),
            "A non-slip natural cork mat on a rubber base that stays grippy even in a sweaty flow.",
        ),
        (
            "f02",
            "Adjustable Dumbbells, 2 x 12 kg",
            "IronFlex",
            189,
            ("weights", "home gym"),
            "Quick-change dumbbells that replace a whole rack, for strength training at home.",
        ),
        (
            "f03",
            "Running Belt with Bottle Holders",
            "Stride",
            25,
            ("running",),
            "A bounce-free belt that carries a phone, keys and two small bottles on long runs.",
        ),
        (
            "f04",
            "Resistance Band Set",
            "IronFlex",
            22,
            ("workout", "home gym"),
            "Five bands of different strengths with handles and a door anchor, for a full-body workout anywhere.",
        ),
        (
            "f05",
            "Textured Foam Roller",
            "Stride",
            30,
            ("recovery", "running"),
            "A firm foam roller that eases tight calves and backs after training.",
        ),
        (
            "f06",
            "Speed Jump Rope",
            "IronFlex",
            15,
            ("cardio",),
            "A fast, tangle-free rope with ball bearings and an adjustable cable, for boxing-style conditioning.",
        ),
        (
            "f07",
            "Yoga Block and Strap Set",
            "Asana Earth",
            19,
            ("yoga",),
            "Two cork blocks and a cotton strap to deepen stretches and steady balance poses.",
        ),
    ),
    "tech": (
        (
            "e01",
            "Noise-Cancelling Wireless Headphones",
            "Sonance",
            249,
            ("audio", "headphones"),
            "Over-ear headphones with adaptive noise cancelling and thirty hours of battery, "
            "for quiet commutes and long flights.",
        ),
        (
            "e02",
            "Wireless Charging Stand",
            "Voltline",
            35,
            ("charging", "desk"),
            "A fast wireless stand that charges a phone upright, so notifications stay visible on the desk.",
        ),
        (
            "e03",
            "Smart Plugs, Pack of 4",
            "Homely",
            39,
            ("smart home",),
            "Wi-Fi plugs that switch lamps and appliances from a phone or on a schedule.",
        ),
        (
            "e04",
            "Waterproof Bluetooth Speaker",
            "Sonance",
            79,
            ("audio", "speaker"),
            "A rugged little speaker with rich sound and twelve hours of play, happy by the pool or in the rain.",
        ),
        (
            "e05",
            "Smartwatch with Fitness Tracking",
            "Pulse",
            199,
            ("wearable", "fitness"),
            "Tracks heart rate, sleep and workouts, with built-in GPS and a week of battery life.",
        ),
        (
            "e06",
            "Compact Mechanical Keyboard",
            "Keycraft",
            99,
            ("keyboard", "desk"),
            "A 75% keyboard with hot-swappable tactile switches and a satisfying, quiet click.",
        ),
        (
            "e07",
            "Power Bank, 20,000 mAh",
            "Voltline",
            45,
            ("charging", "travel"),
            "A slim power bank that recharges a phone four times, with USB-C fast charging.",
        ),
        (
            "e08",
            "Wi-Fi Digital Photo Frame",
            "Homely",
            119,
            ("photos", "smart home"),
            "Family members send photos straight to the frame from their phones: perfect for grandparents.",
        ),
    ),
    "books": (
        (
            "r01",
            "E-Reader with Warm Light",
            "Pagewise",
            139,
            ("reading", "e-reader"),
            "A glare-free e-ink reader with adjustable warm light and weeks of battery, holding thousands of books.",
        ),
        (
            "r02",
            "Novel of the Month Club, 6 Months",
            "Chapter & Verse",
            89,
            ("books", "subscription"),
            "A hand-picked new novel every month, gift wrapped with a bookmark and discussion notes.",
        ),
        (
            "r03",
            "Literary Map of the World Print",
            "Inkwell Prints",
            35,
            ("books", "print"),
            "An illustrated map of famous novels and the places they are set, for the wall of any reader.",
        ),
        (
            "r04",
            "Neck Reading Light",
            "Pagewise",
            26,
            ("reading", "light"),
            "A hands-free amber reading light for reading in bed without waking anyone.",
        ),
        (
            "r05",
            "Cloth-Bound Classics Box Set",
            "Greenleaf Press",
            75,
            ("books", "classics"),
            "Six cloth-bound classics, from Austen to Tolstoy: beautiful on a shelf and lovely to read.",
        ),
        (
            "r06",
            "Personalised Library Embosser",
            "Inkwell Prints",
            45,
            ("books", "personalised"),
            "A custom embosser that presses 'From the library of' and the owner's name into every book.",
        ),
        (
            "r07",
            "Illustrated History of Exploration",
            "Greenleaf Press",
            42,
            ("books", "history"),
            "Maps, ships' logs and stories of the great voyages, from the Polynesian navigators to the polar race.",
        ),
    ),
    "art": (
        (
            "a01",
            "Watercolour Travel Set",
            "Atelier Bleu",
            39,
            ("painting", "watercolour"),
            "Twenty-four artist-grade watercolour pans, a water brush and a pocket sketchbook, for painting anywhere.",
        ),
        (
            "a02",
            "Tabletop Pottery Wheel",
            "Clayworks",
            159,
            ("pottery", "craft"),
            "A quiet tabletop wheel with clay and tools, to throw first bowls and cups at home.",
        ),
        (
            "a03",
            "Chunky Scarf Knitting Kit",
            "Woolly Way",
            34,
            ("knitting", "craft"),
            "Merino yarn, bamboo needles and an easy pattern to knit a warm scarf in a weekend.",
        ),
        (
            "a04",
            "Alcohol Marker Set, 48 Colours",
            "Atelier Bleu",
            49,
            ("drawing", "markers"),
            "Dual-tip markers for illustration, comics and manga, with smooth blending and bold colour.",
        ),
        (
            "a05",
            "Embroidery Starter Kit",
            "Woolly Way",
            24,
            ("embroidery", "craft"),
            "A hoop, threads, needles and a printed floral design to learn embroidery step by step.",
        ),
        (
            "a06",
            "Pen Tablet for Digital Drawing",
            "Linea",
            89,
            ("drawing", "digital art"),
            "A pressure-sensitive pen tablet for digital painting and animation, working with free drawing software.",
        ),
        (
            "a07",
            "Sketchbook Set, Toned Paper",
            "Atelier Bleu",
            21,
            ("drawing", "sketchbook"),
            "Three hardback sketchbooks in grey, tan and black paper that make pencil and ink drawings pop.",
        ),
    ),
    "wellness": (
        (
            "l01",
            "Aromatherapy Diffuser with Oils",
            "Still Waters",
            49,
            ("aromatherapy", "relax"),
            "A ceramic ultrasonic diffuser with lavender, eucalyptus and orange oils for a calm room.",
        ),
        (
            "l02",
            "Bath Soak Collection",
            "Still Waters",
            28,
            ("bath", "spa"),
            "Dead Sea salts, magnesium flakes and a rose soak for a long, slow bath.",
        ),
        (
            "l03",
            "Handheld Massage Gun",
            "Recova",
            119,
            ("massage", "recovery"),
            "A quiet percussion massager with four heads to loosen sore muscles after sport or a long day.",
        ),
        (
            "l04",
            "Buckwheat Meditation Cushion",
            "Asana Earth",
            45,
            ("meditation",),
            "A zafu cushion filled with buckwheat hulls, in organic cotton, for comfortable sitting practice.",
        ),
        (
            "l05",
            "Spa Day for Two",
            "Haven Spa",
            180,
            ("spa", "experience"),
            "A day at a day spa for two, with pool, sauna and a massage each.",
        ),
        (
            "l06",
            "Five-Minute Gratitude Journal",
            "Paper Garden",
            18,
            ("mindfulness", "journal"),
            "Five minutes each morning and evening to note the good things: a gentle habit for a happier mind.",
        ),
    ),
    "kids": (
        (
            "q01",
            "Wooden Rainbow Stacker",
            "Little Oak",
            32,
            ("toy", "wooden"),
            "A hand-painted rainbow of wooden arches for stacking, balancing and imaginative play.",
        ),
        (
            "q02",
            "Picture Book: The Moon Fox",
            "Starlight Books",
            14,
            ("picture book", "bedtime"),
            "A gentle bedtime story about a fox who helps the moon find its way home. For ages 3 to 6.",
        ),
        (
            "q03",
            "Build-Your-Own Robot Kit",
            "Tinker Lab",
            59,
            ("STEM", "robot"),
            "Kids build and program a little robot that follows lines and dodges obstacles. For ages 8 and up.",
        ),
        (
            "q04",
            "Plush Dragon",
            "Cuddle Co",
            22,
            ("plush",),
            "A soft, huggable dragon with shimmering wings, made to be carried everywhere.",
        ),
        (
            "q05",
            "Double-Sided Kids' Art Easel",
            "Little Oak",
            69,
            ("art", "toy"),
            "A chalkboard, a whiteboard and a paper roll on one sturdy easel for young artists.",
        ),
        (
            "q06",
            "Family Board Game: Treasure Trail",
            "Meeple House",
            25,
            ("board game", "family"),
            "A race across the jungle for the whole family, simple enough for six-year-olds and fun for grown-ups.",
        ),
    ),
    "pets": (
        (
            "p01",
            "Orthopaedic Dog Bed",
            "Happy Paws",
            89,
            ("dog", "bed"),
            "A memory-foam bed with a washable cover that supports an older dog's joints.",
        ),
        (
            "p02",
            "Interactive Cat Toy Set",
            "Happy Paws",
            19,
            ("cat", "toy"),
            "A feather wand and a puzzle feeder that keep indoor cats busy and curious.",
        ),
        (
            "p03",
            "Engraved Leather Dog Collar",
            "Happy Paws",
            34,
            ("dog", "personalised"),
            "A leather collar with the dog's name and a phone number engraved on a brass plate.",
        ),
        (
            "p04",
            "Oven-Baked Dog Treat Tin",
            "Biscuit Bakery",
            16,
            ("dog", "treats"),
            "Crunchy biscuits with peanut butter and carrot, in a keepsake tin.",
        ),
        (
            "p05",
            "Illustrated Pet Portrait",
            "Inkwell Prints",
            75,
            ("pet", "art", "personalised"),
            "A hand-drawn portrait of a beloved pet, made from a photo and printed on archival paper.",
        ),
    ),
    "travel": (
        (
            "n01",
            "Packing Cube Set",
            "Nomad Gear",
            29,
            ("travel", "packing"),
            "Six lightweight cubes that keep a suitcase organised, from shoes to socks.",
        ),
        (
            "n02",
            "Leather Passport Holder",
            "Saddle & Stitch",
            35,
            ("travel", "leather"),
            "A slim leather holder for a passport, boarding pass and cards; it can be embossed with initials.",
        ),
        (
            "n03",
            "Scratch-Off World Map",
            "Contour Studio",
            30,
            ("travel", "map"),
            "Scratch off each country visited to reveal its colours, and plan the next adventure.",
        ),
        (
            "n04",
            "Hard-Shell Carry-On Suitcase",
            "Nomad Gear",
            189,
            ("luggage",),
            "A light, tough cabin suitcase with silent spinner wheels and a built-in lock.",
        ),
        (
            "n05",
            "Memory Foam Travel Pillow",
            "Nomad Gear",
            27,
            ("travel", "sleep"),
            "A supportive neck pillow that packs small, for long flights and night trains.",
        ),
    ),
    "gourmet": (
        (
            "g01",
            "Artisan Chocolate Tasting Box",
            "Cacao Atelier",
            29,
            ("chocolate", "sweets"),
            "Twenty-four hand-finished chocolates, from single-origin squares to salted caramel truffles.",
        ),
        (
            "g02",
            "Farmhouse Cheese Hamper",
            "The Cheese Cellar",
            79,
            ("cheese", "hamper"),
            "Four farmhouse cheeses, crackers, fig chutney and a slate board in a wicker basket.",
        ),
        (
            "g03",
            "Raw Honey Trio",
            "Wildflower Apiary",
            24,
            ("honey", "local"),
            "Three raw honeys from lavender, heather and wildflower meadows, never heated and full of flavour.",
        ),
        (
            "g04",
            "Hot Sauce Discovery Set",
            "Chili Republic",
            27,
            ("spicy", "sauce"),
            "Six small-batch hot sauces, from mild smoky chipotle to a fierce scotch bonnet.",
        ),
        (
            "g05",
            "Italian Aperitivo Box",
            "Nonna's Table",
            54,
            ("gourmet", "italian"),
            "Olives, grissini, taralli and a bottle of bitter aperitivo for a proper Italian early evening.",
        ),
        (
            "g06",
            "Salted Caramel Fudge Tin",
            "Sweet Hollow",
            12,
            ("sweets",),
            "Crumbly butter fudge made in copper pans with sea salt flakes, in a keepsake tin.",
        ),
    ),
    "wine": (
        (
            "w01",
            "Single Malt Whisky Tasting Set",
            "Glen Sampler",
            65,
            ("whisky", "tasting"),
            "Five small bottles of single malt, from Speyside to Islay, with tasting notes for an evening of comparing.",
        ),
        (
            "w02",
            "Crystal Wine Decanter",
            "Verre Fin",
            58,
            ("wine", "glassware"),
            "A lead-free crystal decanter that lets red wine breathe and looks beautiful on the table.",
        ),
        (
            "w03",
            "Cocktail Shaker Set",
            "Mixology Lab",
            44,
            ("cocktails", "bar"),
            "A stainless steel shaker, jigger, strainer and muddler with a booklet of twenty classic cocktails.",
        ),
        (
            "w04",
            "Organic Red Wine Duo",
            "Vignoble Verte",
            39,
            ("wine", "organic"),
            "Two organic reds from a family estate in the Languedoc: one juicy and fruity, one deep and spicy.",
        ),
        (
            "w05",
            "Make-Your-Own Gin Kit",
            "Mixology Lab",
            35,
            ("gin", "diy"),
            "Juniper, citrus peel and a dozen botanicals to infuse a bottle of homemade gin.",
        ),
    ),
    "gaming": (
        (
            "m01",
            "Wireless Game Controller",
            "Playforge",
            59,
            ("gaming", "controller"),
            "A comfortable wireless controller with remappable back buttons, for PC and console.",
        ),
        (
            "m02",
            "Strategy Board Game: Island Traders",
            "Meeple House",
            42,
            ("board game", "strategy"),
            "A trading and building game for two to five players that plays out differently every time. "
            "About an hour per game.",
        ),
        (
            "m03",
            "Gaming Headset with Microphone",
            "Playforge",
            89,
            ("gaming", "audio"),
            "A light headset with surround sound and a clear detachable mic, for long sessions with friends.",
        ),
        (
            "m04",
            "Retro Handheld Console",
            "Pixel Pocket",
            79,
            ("gaming", "retro"),
            "A pocket console loaded with classic-style indie games on a bright little screen.",
        ),
        (
            "m05",
            "Cooperative Card Game: Night Watch",
            "Meeple House",
            18,
            ("card game", "party"),
            "Players guard a castle together until dawn in this quick cooperative card game. Twenty minutes a round.",
        ),
        (
            "m06",
            "XL Gaming Mouse Pad",
            "Playforge",
            25,
            ("gaming", "desk"),
            "A desk-sized cloth mouse pad with stitched edges and a smooth surface for precise aim.",
        ),
    ),
    "music": (
        (
            "u01",
            "Record Player with Built-In Speakers",
            "Groove Works",
            149,
            ("vinyl", "audio"),
            "A belt-driven turntable in walnut veneer that plays records straight out of the box.",
        ),
        (
            "u02",
            "Ukulele Starter Pack",
            "Island Strings",
            55,
            ("instrument", "beginner"),
            "A concert ukulele with a tuner, gig bag and spare strings, plus lessons to play a first song in a weekend.",
        ),
        (
            "u03",
            "Oak Vinyl Record Crate",
            "Timber Table",
            49,
            ("vinyl", "storage"),
            "A solid oak crate that holds eighty records and looks good on the floor or a shelf.",
        ),
        (
            "u04",
            "Kalimba Thumb Piano",
            "Island Strings",
            28,
            ("instrument",),
            "A 17-key kalimba with a soft, music-box tone, easy to pick up, with a songbook for beginners.",
        ),
        (
            "u05",
            "Live Music Gift Card",
            "Stagepass",
            100,
            ("music", "experience"),
            "A gift card for concerts and festivals: a night of live music, chosen together.",
        ),
    ),
    "gardening": (
        (
            "d01",
            "Windowsill Herb Garden Kit",
            "Green Fingers",
            24,
            ("gardening", "herbs"),
            "Basil, parsley, chives and coriander seeds with biodegradable pots and soil, for a sunny windowsill.",
        ),
        (
            "d02",
            "Garden Tool Set in Canvas Bag",
            "Green Fingers",
            48,
            ("gardening", "tools"),
            "A trowel, a fork and pruning shears with ash handles, in a waxed canvas bag.",
        ),
        (
            "d03",
            "Bonsai Starter Kit",
            "Little Forest",
            35,
            ("bonsai", "plants"),
            "Seeds for four bonsai trees with pots, tools and a guide to shaping a tiny forest over the years.",
        ),
        (
            "d04",
            "Self-Watering Ceramic Planter",
            "Urban Leaf",
            32,
            ("plants", "indoor"),
            "A ceramic planter with a hidden reservoir that keeps house plants happy for up to two weeks.",
        ),
        (
            "d05",
            "Cedar Raised Garden Bed",
            "Green Fingers",
            119,
            ("gardening", "vegetables"),
            "A cedar raised bed for growing vegetables on a patio or balcony, assembled without tools.",
        ),
    ),
    "home": (
        (
            "h01",
            "Hand-Poured Soy Candle Trio",
            "Ember & Wick",
            32,
            ("candles", "home"),
            "Three candles scented with fig, cedar and sea salt, poured by hand into reusable amber jars.",
        ),
        (
            "h02",
            "Stoneware Bud Vase Set",
            "Clayworks",
            38,
            ("vases", "ceramics"),
            "Three small stoneware vases in soft glazes, for single stems and dried flowers.",
        ),
        (
            "h03",
            "Macramé Wall Hanging",
            "Knot & Loom",
            45,
            ("wall art", "boho"),
            "A large handmade cotton macramé piece that brings warmth and texture to a bare wall.",
        ),
        (
            "h04",
            "Terrazzo Serving Tray",
            "Ember & Wick",
            42,
            ("tray", "home"),
            "A speckled terrazzo tray for candles, keys or serving drinks on the balcony.",
        ),
        (
            "h05",
            "Chunky Knit Throw",
            "Hearth & Home",
            89,
            ("blanket", "cozy"),
            "A soft, heavy knitted throw for the sofa on winter evenings.",
        ),
        (
            "h06",
            "Sheepskin Slippers",
            "Hearth & Home",
            59,
            ("slippers", "cozy"),
            "Genuine sheepskin slippers with a rubber sole: warm indoors, fine for a dash to the letterbox.",
        ),
        (
            "h07",
            "Weighted Blanket, 7 kg",
            "Calm Nest",
            99,
            ("blanket", "sleep"),
            "A breathable weighted blanket that feels like a gentle hug and helps many people settle into sleep.",
        ),
    ),
    "style": (
        (
            "s01",
            "Cashmere Scarf",
            "Highland Loom",
            119,
            ("scarf", "cashmere"),
            "A featherlight cashmere scarf in soft heather grey, woven in Scotland.",
        ),
        (
            "s02",
            "Leather Weekend Bag",
            "Saddle & Stitch",
            229,
            ("bag", "leather"),
            "A roomy full-grain leather holdall for weekends away, with brass fittings and a shoe pocket.",
        ),
        (
            "s03",
            "Lambswool Beanie",
            "Highland Loom",
            29,
            ("hat", "winter"),
            "A rib-knit lambswool beanie that keeps ears warm without itching.",
        ),
        (
            "s04",
            "Initial Necklace",
            "Petite Gold",
            65,
            ("necklace", "personalised"),
            "A dainty gold-plated necklace with a hand-stamped initial pendant.",
        ),
        (
            "s05",
            "Minimalist Leather Strap Watch",
            "Tempo",
            149,
            ("watch",),
            "A slim watch with a sapphire glass face and a tan leather strap that goes with everything.",
        ),
        (
            "s06",
            "Sterling Silver Hoop Earrings",
            "Petite Gold",
            45,
            ("earrings", "silver"),
            "Small sterling silver hoops, light enough to wear every day.",
        ),
        (
            "s07",
            "Fig and Vetiver Eau de Parfum",
            "Maison Lumière",
            95,
            ("perfume",),
            "A warm, woody fragrance of green fig and vetiver that lasts through the day.",
        ),
        (
            "s08",
            "Beard Grooming Kit",
            "Barber & Blade",
            48,
            ("grooming", "beard"),
            "Beard oil, balm, a wooden comb and scissors in a canvas wash bag.",
        ),
        (
            "s09",
            "Natural Skincare Gift Set",
            "Botanica",
            54,
            ("skincare", "natural"),
            "Cleanser, serum and moisturiser made with plant oils, for a simple routine that feels luxurious.",
        ),
    ),
    "stationery": (
        (
            "i01",
            "Fountain Pen with Converter",
            "Nib & Quill",
            48,
            ("pen", "writing"),
            "A smooth steel-nib fountain pen in lacquered brass, with a converter for bottled ink.",
        ),
        (
            "i02",
            "Refillable Leather Journal",
            "Nib & Quill",
            42,
            ("journal", "leather"),
            "A full-grain leather cover with three refillable notebooks that ages beautifully with use.",
        ),
        (
            "i03",
            "Undated Weekly Planner",
            "Paper Garden",
            22,
            ("planner",),
            "A linen-bound planner with weekly spreads and habit trackers, to start any time of the year.",
        ),
        (
            "i04",
            "Wax Seal Stamp Kit",
            "Paper Garden",
            26,
            ("letters", "personalised"),
            "A brass seal with the recipient's initial, sealing wax sticks and a melting spoon, "
            "for letters that feel special.",
        ),
    ),
    "experiences": (
        (
            "x01",
            "Cooking Class for Two",
            "Taste Academy",
            140,
            ("experience", "cooking class"),
            "A three-hour hands-on class with a chef, cooking a seasonal menu and sharing it at the table.",
        ),
        (
            "x02",
            "Sunrise Hot Air Balloon Flight",
            "Skyward",
            245,
            ("experience", "adventure"),
            "A sunrise flight over the countryside, with a glass of bubbly on landing.",
        ),
        (
            "x03",
            "Wine Tasting Evening",
            "Vignoble Verte",
            60,
            ("experience", "wine"),
            "A guided tasting of six wines with cheese pairings in a local cellar.",
        ),
        (
            "x04",
            "Pottery Wheel Workshop",
            "Clayworks",
            85,
            ("experience", "pottery"),
            "A half-day wheel-throwing workshop; the finished pieces are glazed, fired and posted home.",
        ),
        (
            "x05",
            "Guided Mountain Weekend",
            "Ridgeline",
            395,
            ("experience", "hiking"),
            "Two days of guided hiking in the Alps with a night in a mountain hut, meals included.",
        ),
    ),
    "puzzles_science": (
        (
            "z01",
            "1000-Piece Botanical Jigsaw",
            "Puzzle Parlour",
            24,
            ("jigsaw",),
            "A richly illustrated botanical garden jigsaw, printed on thick recycled board.",
        ),
        (
            "z02",
            "Wooden Brain Teaser Set",
            "Puzzle Parlour",
            28,
            ("brain teaser", "wooden"),
            "Six interlocking wooden puzzles, from easy to fiendish, in a cotton pouch.",
        ),
        (
            "z03",
            "Escape Room in a Box",
            "Meeple House",
            29,
            ("puzzle", "party"),
            "Crack codes and follow clues to escape within sixty minutes, at the kitchen table.",
        ),
        (
            "z04",
            "Beginner's Refractor Telescope",
            "Starfield",
            169,
            ("astronomy", "telescope"),
            "A 70 mm refractor on a sturdy tripod: Saturn's rings and the moon's craters from the garden.",
        ),
        (
            "z05",
            "Kids' Microscope Kit",
            "Tinker Lab",
            49,
            ("science", "kids"),
            "A real microscope with prepared slides and tools to explore pond water, leaves and salt crystals.",
        ),
        (
            "z06",
            "Crystal Growing Kit",
            "Tinker Lab",
            22,
            ("science", "STEM"),
            "Grow seven colourful crystals in a week and learn the chemistry behind them.",
        ),
    ),
    "grill_and_film": (
        (
            "b01",
            "BBQ Tool Set in a Case",
            "Firepit & Co",
            55,
            ("bbq", "grill"),
            "Stainless steel tongs, spatula, fork and basting brush in an aluminium carry case.",
        ),
        (
            "b02",
            "Smoker Box and Wood Chips",
            "Firepit & Co",
            32,
            ("bbq", "smoking"),
            "A cast iron box and hickory, apple and cherry chips that turn any grill into a smoker.",
        ),
        (
            "b03",
            "Wireless Meat Thermometer",
            "Firepit & Co",
            69,
            ("bbq", "gadget"),
            "Two probes report to a phone so the roast comes off the grill exactly right.",
        ),
        (
            "b04",
            "Pocket Projector for Movie Nights",
            "Cinebox",
            159,
            ("projector", "movies"),
            "A palm-sized projector that throws a 100-inch picture onto any wall, for movie nights at home.",
        ),
        (
            "b05",
            "Gourmet Popcorn Kit",
            "Sweet Hollow",
            24,
            ("popcorn", "movies"),
            "Heirloom popping corn, three seasonings and striped boxes for a proper cinema night on the sofa.",
        ),
    ),
    "baking_cycling": (
        (
            "y01",
            "Sourdough Starter Kit",
            "Crumb & Crust",
            36,
            ("baking", "bread"),
            "A dried heritage starter, a proofing basket, a dough scraper and a lame to bake a first crusty loaf.",
        ),
        (
            "y02",
            "Tilt-Head Stand Mixer, 5 L",
            "Whiskwell",
            279,
            ("baking", "appliance"),
            "A sturdy stand mixer with dough hook, whisk and beater for cakes, meringues and bread dough.",
        ),
        (
            "y03",
            "Pâtisserie at Home",
            "Greenleaf Press",
            31,
            ("baking", "cookbook"),
            "Step-by-step French pastry, from choux buns and tarts to croissants, written for home bakers.",
        ),
        (
            "y04",
            "Rechargeable Bike Light Set",
            "Spoke & Beam",
            39,
            ("cycling", "safety"),
            "Bright front and rear lights with USB charging and a daytime flash mode for safer commutes.",
        ),
        (
            "y05",
            "Bike Multi-Tool",
            "Spoke & Beam",
            27,
            ("cycling", "repair"),
            "Sixteen tools, a chain breaker and hex keys included, for roadside repairs in a pocket-sized case.",
        ),
        (
            "y06",
            "Merino Cycling Cap",
            "Velo Club",
            29,
            ("cycling", "apparel"),
            "A soft merino cap that fits under a helmet: sun off the eyes in summer, ears warm in winter.",
        ),
        (
            "y07",
            "Smart Indoor Bike Trainer",
            "Velo Club",
            389,
            ("cycling", "training"),
            "A quiet direct-drive trainer that turns a road bike into a connected indoor ride for the winter.",
        ),
    ),
    "baby_and_green": (
        (
            "v01",
            "Organic Cotton Newborn Set",
            "Little Oak",
            45,
            ("baby", "organic"),
            "A bodysuit, hat, mittens and muslin square in soft organic cotton for a newborn.",
        ),
        (
            "v02",
            "Silicone Teething Bear",
            "Cuddle Co",
            12,
            ("baby", "teething"),
            "A soft, safe teether shaped like a little bear, easy for tiny hands to hold.",
        ),
        (
            "v03",
            "Beeswax Food Wraps, Set of 5",
            "Hive Goods",
            18,
            ("zero waste", "kitchen"),
            "Washable beeswax wraps in cheerful prints that replace cling film for a year or more.",
        ),
        (
            "v04",
            "Insulated Steel Water Bottle",
            "Hive Goods",
            29,
            ("reusable", "bottle"),
            "Keeps water cold for a day and tea hot for twelve hours, with a leak-proof bamboo lid.",
        ),
        (
            "v05",
            "Mulberry Silk Pyjama Set",
            "Maison Lumière",
            260,
            ("silk", "sleepwear"),
            "Pure mulberry silk pyjamas with contrast piping: cool in summer, warm in winter.",
        ),
        (
            "v06",
            "Champagne and Truffles Hamper",
            "The Cheese Cellar",
            145,
            ("champagne", "hamper"),
            "A bottle of grower champagne with dark chocolate truffles, in a gift box for a celebration.",
        ),
        (
            "v07",
            "Aluminium Laptop Stand",
            "Deskline",
            49,
            ("desk", "ergonomic"),
            "An aluminium stand that lifts the screen to eye level and folds flat for the bag.",
        ),
    ),
}

#: Dealt first: what the demo profiles like (coffee, cooking, outdoors, gaming, art, travel, books).
LEADING_THEMES = ("coffee", "cooking", "outdoors", "gaming", "art", "travel", "books")
#: The catalog's themes, in the order `catalog()` deals them.
THEMES: tuple[str, ...] = (*LEADING_THEMES, *(theme for theme in _CATALOG if theme not in LEADING_THEMES))

#: Products the CMS features on the home screen.
FEATURED = frozenset(
    {"c01", "c03", "t03", "k01", "o01", "f01", "e01", "r02", "a01", "l05", "q03", "g02", "w01", "u01", "x02", "h05"}
)
#: Products still being written in the CMS: mirrored, never processed nor recommended.
DRAFTS = frozenset({"m06", "h04", "v07", "z06"})
#: Published products hidden from gifters (e.g. out of stock): mirrored, never processed nor recommended.
HIDDEN = frozenset({"u05", "s06", "n04"})


@dataclass(frozen=True)
class DemoProduct:
    """One catalog entry, turned into the CMS document the webhook receives."""

    key: str
    theme: str
    title: str
    brand: str
    price: float
    tags: tuple[str, ...]
    description: str
    #: The CMS's `updatedAt`: fixed per product, whatever order the products are loaded in.
    updated_at: datetime

    @property
    def external_id(self) -> str:
        return f"{ID_PREFIX}{self.key}"

    @property
    def status(self) -> str:
        return "DRAFT" if self.key in DRAFTS else "PUBLISHED"

    @property
    def visible_to_gifter(self) -> bool:
        return self.key not in HIDDEN

    @property
    def recommendable(self) -> bool:
        """PUBLISHED and visible: the products whose jobs the demo waits for."""
        return self.status == "PUBLISHED" and self.visible_to_gifter

    def doc(self) -> dict[str, Any]:
        """The CMS document, camelCase as DESIGN.md "Webhook" fixes it."""
        return {
            "id": self.external_id,
            "title": self.title,
            "description": self.description,
            "brand": self.brand,
            "price": self.price,
            "currency": CURRENCY,
            "status": self.status,
            "visibleToGifter": self.visible_to_gifter,
            "isFeatured": self.key in FEATURED,
            "tags": list(self.tags),
            "updatedAt": self.updated_at.isoformat().replace("+00:00", "Z"),
        }


def catalog() -> list[DemoProduct]:
    """Every demo product, dealt `DEAL_SIZE` per theme in turn, `THEMES` order."""
    rows = [(theme, row) for theme, theme_rows in _CATALOG.items() for row in theme_rows]
    products: dict[str, list[DemoProduct]] = {theme: [] for theme in _CATALOG}
    for minute, (theme, (key, title, brand, price, tags, description)) in enumerate(rows):
        updated_at = FIRST_UPDATED_AT + timedelta(minutes=minute)
        products[theme].append(DemoProduct(key, theme, title, brand, price, tags, description, updated_at))
    deepest = max(len(column) for column in products.values())
    return [
        product
        for start in range(0, deepest, DEAL_SIZE)
        for theme in THEMES
        for product in products[theme][start : start + DEAL_SIZE]
    ]


def product_docs(count: int | None = None) -> list[dict[str, Any]]:
    """The CMS documents of the first `count` products of `catalog()` (default: all)."""
    return [product.doc() for product in catalog()[:count]]


@dataclass(frozen=True)
class DemoProfile:
    """A recipient of the demo user and the taste questionnaire the user filled in for them."""

    recipient_name: str
    relationship: str
    age_range: str
    answers: dict[str, Any]


PROFILES: tuple[DemoProfile, ...] = (
    DemoProfile(
        recipient_name="Dad",
        relationship="dad",
        age_range="55-64",
        answers={
            "interests": ["specialty coffee", "cooking for the family", "hiking", "history books"],
            "dislikes": ["gadgets", "electronics"],
            "style": "classic, practical and well made",
            "budget_min": 20,
            "budget_max": 120,
            "about": (
                "Dad starts every morning with a slow pour-over and spends Sundays cooking for everyone. "
                "He loves things that last and has no patience for anything that needs charging."
            ),
            "recipient": {"relationship": "dad", "age_range": "55-64"},
        },
    ),
    DemoProfile(
        recipient_name="Maya",
        relationship="close friend",
        age_range="25-34",
        answers={
            "interests": ["hiking", "camping", "trail running", "travel"],
            "dislikes": ["perfume", "jewelry"],
            "style": "sporty and adventurous",
            "budget_min": 25,
            "budget_max": 150,
            "about": "Maya spends every free weekend in the mountains and is always planning the next trip.",
            "recipient": {"relationship": "friend", "age_range": "25-34"},
        },
    ),
    DemoProfile(
        recipient_name="Leo",
        relationship="nephew",
        age_range="13-17",
        answers={
            "interests": ["video games", "drawing", "comics", "digital art"],
            "dislikes": ["clothes", "books"],
            "style": "creative and playful",
            "budget_min": 15,
            "budget_max": 90,
            "about": "Leo is fifteen, plays online with his friends and fills sketchbooks with characters he invents.",
            "recipient": {"relationship": "nephew", "age_range": "13-17"},
        },
    ),
)


@dataclass(frozen=True)
class DemoOccasion:
    """The occasion the demo reminds the user of, a few days ahead of each run."""

    name: str
    recipient_name: str
    days_ahead: int


#: Five days ahead with reminders 7, 3 and 1 days before: the 7-day one is already
#: past (skipped), the 3-day one is the nearest the demo sends at once.
OCCASION = DemoOccasion(name="Dad's birthday", recipient_name="Dad", days_ahead=5)

#: The demo's gifter account.
DEMO_USERNAME = "demo-gifter"
DEMO_EMAIL = "demo.gifter@gifting.example"
