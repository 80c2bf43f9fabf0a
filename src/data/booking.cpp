// src/data/booking.cpp: the ticket-booking slot-filling generator (see seqnn/data/booking.h).
//
// A sentence is built as a list of (phrase, slot) pieces; a slot phrase of n words gets
// B-slot then n-1 I-slot tags, every other word O. Four sentence shapes:
//   near    "[prefix] <verb phrase with the city> [clauses...]"   arrive Taipei on November 2nd
//   listing "<request> [clauses in random order]"                 book a flight from X to Y at 9 am
//   far     "i want to <verb> <date/time...> in <city> ..."        the verb 4+ words before the city
//   is      "<city> is the city i <verb phrase>" / "the city i <verb> ... is <city>"
// The last two decide dest vs origin by a word far from the city.
#include "seqnn/data/booking.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "seqnn/error.h"
#include "seqnn/random.h"

namespace seqnn::data {

// ==================================================================== word lists
namespace {
using Words = std::vector<std::string>;

const Words kTrainCities = {
    "new york", "los angeles", "san francisco", "chicago", "boston", "seattle", "miami", "london",
    "paris", "berlin", "madrid", "rome", "amsterdam", "vienna", "prague", "dublin", "lisbon", "tokyo",
    "osaka", "seoul", "beijing", "shanghai", "hong kong", "singapore", "bangkok", "kuala lumpur",
    "sydney", "melbourne", "toronto", "vancouver", "mexico city", "buenos aires", "rio de janeiro",
    "sao paulo", "cairo", "dubai", "istanbul", "moscow", "mumbai", "new delhi", "abu dhabi", "tel aviv",
    "new orleans", "san juan", "la paz", "st petersburg", "dar es salaam", "frankfurt am main",
    "palma de mallorca", "port of spain", "bandar seri begawan", "santa cruz de tenerife",
    "las palmas de gran canaria", "guatemala city", "kansas city", "panama city"};
const Words kValidCities = {"denver", "atlanta", "munich", "zurich", "oslo", "helsinki", "manila",
                            "hanoi", "cape town", "lima", "santiago", "las vegas"};
const Words kTestCities = {"taipei", "kaohsiung", "tainan", "houston", "phoenix", "dallas", "stockholm",
                           "copenhagen", "brussels", "warsaw", "athens", "jakarta", "ho chi minh city",
                           "nairobi", "bogota", "montreal", "san diego", "salt lake city", "kyoto", "perth"};

const Words kMonths = {"january", "february", "march", "april", "may", "june", "july",
                       "august", "september", "october", "november", "december"};
const Words kWeekdays = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
const Words kAirlines = {"china airlines", "eva air", "united", "delta", "american airlines", "air france",
                         "lufthansa", "british airways", "emirates", "klm", "japan airlines",
                         "singapore airlines", "qantas", "starlux"};
const Words kClasses = {"economy", "economy class", "business", "business class", "first class", "premium economy"};

// Near phrases: "{}" is the city. The verb (or preposition) sits next to the city.
const Words kDestVerbs = {"arrive {}", "arrive in {}", "arrive at {}", "fly to {}", "go to {}", "travel to {}",
                          "get to {}", "land in {}", "reach {}", "head to {}"};
const Words kOriginVerbs = {"leave {}", "leave from {}", "depart from {}", "depart {}", "fly out of {}",
                            "fly from {}", "get out of {}", "take off from {}", "start from {}", "go from {}"};
const Words kDestClauses = {"to {}", "arriving in {}", "that arrives in {}", "landing in {}", "going to {}",
                            "with destination {}"};
const Words kOriginClauses = {"from {}", "leaving {}", "departing from {}", "out of {}", "that leaves {}",
                              "leaving from {}"};
// Far verbs: the word that decides the slot, with date/time words between it and the city.
const Words kFarDest = {"arrive", "land", "get there", "be arriving"};
const Words kFarOrigin = {"leave", "depart", "take off", "be leaving"};
// "<city> is the city i ..." / "the city i ... is <city>".
const Words kIsDest = {"will be flying to", "want to arrive in", "am going to", "will land in", "need to get to"};
const Words kIsOrigin = {"will be flying out of", "want to leave", "am departing from", "will take off from",
                         "need to get out of"};
const Words kPrefixVerb = {"", "", "i want to", "i would like to", "i need to", "please help me", "i plan to",
                           "can i"};
const Words kRequests = {"", "i need a flight", "book a ticket", "please book a flight", "i want a ticket",
                         "show me flights", "find me a flight", "a one way trip"};
const Words kSuffix = {"", "", "", "please", "thanks", "if possible"};

std::string pick(const Words& w, Generator& g) { return w[static_cast<size_t>(g.randint(0, static_cast<int64_t>(w.size())))]; }

std::string ordinal(int64_t d) {
  const char* suf = (d % 10 == 1 && d != 11) ? "st" : (d % 10 == 2 && d != 12) ? "nd" : (d % 10 == 3 && d != 13) ? "rd" : "th";
  return std::to_string(d) + suf;
}

// ==================================================================== sentence building
struct Piece {
  std::string words;
  std::string slot;  // "" for O
};

struct Sentence {
  std::vector<Piece> pieces;
  bool has_dest = false, has_origin = false;
  void add(const std::string& words, const std::string& slot = "") {
    if (!words.empty()) pieces.push_back({words, slot});
  }
  // A template with "{}" standing for the slot value.
  void add_template(const std::string& tmpl, const std::string& value, const std::string& slot) {
    auto trim = [](std::string x) {
      while (!x.empty() && x.back() == ' ') x.pop_back();
      while (!x.empty() && x.front() == ' ') x.erase(x.begin());
      return x;
    };
    const auto at = tmpl.find("{}");
    add(trim(tmpl.substr(0, at)));
    add(value, slot);
    add(trim(tmpl.substr(at + 2)));
    if (slot == "dest") has_dest = true;
    if (slot == "origin") has_origin = true;
  }
};

std::string make_date(Generator& g) {
  switch (g.randint(0, 6)) {
    case 0: return pick(kMonths, g) + " " + ordinal(g.randint(1, 29));
    case 1: return ordinal(g.randint(1, 29)) + " of " + pick(kMonths, g);
    case 2: return pick(kMonths, g) + " " + std::to_string(g.randint(1, 29));
    case 3: return "next " + pick(kWeekdays, g);
    case 4: return pick(kWeekdays, g);
    default: return g.bernoulli(0.5) ? "tomorrow" : "the day after tomorrow";
  }
}

std::string make_time(Generator& g) {
  switch (g.randint(0, 5)) {
    case 0: return std::to_string(g.randint(1, 13)) + " am";
    case 1: return std::to_string(g.randint(1, 13)) + " pm";
    case 2: return std::to_string(g.randint(1, 13)) + ":" + (g.bernoulli(0.5) ? "30" : "15") + (g.bernoulli(0.5) ? " am" : " pm");
    case 3: return g.bernoulli(0.5) ? "noon" : "midnight";
    default: return std::to_string(g.randint(5, 12)) + " in the " + (g.bernoulli(0.5) ? "morning" : "evening");
  }
}

// The optional slots as (preposition + value) clauses, in random order.
void add_extras(Sentence& s, Generator& g, double p, bool at_least_one_time_or_date = false) {
  std::vector<int> kinds;
  bool date = g.bernoulli(p), time = g.bernoulli(p * 0.7);
  if (at_least_one_time_or_date && !date && !time) date = true;
  if (date) kinds.push_back(0);
  if (time) kinds.push_back(1);
  if (g.bernoulli(p * 0.5)) kinds.push_back(2);
  if (g.bernoulli(p * 0.5)) kinds.push_back(3);
  for (int64_t i = static_cast<int64_t>(kinds.size()) - 1; i > 0; --i) std::swap(kinds[i], kinds[g.randint(0, i + 1)]);
  for (int k : kinds) {
    if (k == 0) {
      std::string d = make_date(g);
      bool bare = d.rfind("tomorrow", 0) == 0 || d.rfind("the day", 0) == 0 || d.rfind("next", 0) == 0;
      s.add(bare ? "" : "on");
      s.add(d, "date");
    } else if (k == 1) {
      s.add(pick({"at", "at", "around", "before", "after"}, g));
      s.add(make_time(g), "time");
    } else if (k == 2) {
      s.add(pick({"with", "on", "flying", "by"}, g));
      s.add(pick(kAirlines, g), "airline");
    } else {
      if (g.bernoulli(0.5)) {
        s.add("in");
        s.add(pick(kClasses, g), "class");
      } else {
        s.add("a");
        s.add(pick(kClasses, g), "class");
        s.add(pick({"ticket", "seat"}, g));
      }
    }
  }
}

Sentence make_sentence(const Words& cities, Generator& g) {
  Sentence s;
  auto city = [&] { return pick(cities, g); };
  std::string a = city(), b = city();
  while (b == a) b = city();
  const int64_t shape = g.randint(0, 20);
  if (shape < 7) {  // near: verb phrase next to the city
    s.add(pick(kPrefixVerb, g));
    bool dest = g.bernoulli(0.5);
    s.add_template(pick(dest ? kDestVerbs : kOriginVerbs, g), a, dest ? "dest" : "origin");
    if (g.bernoulli(0.3)) s.add_template(pick(dest ? kOriginClauses : kDestClauses, g), b, dest ? "origin" : "dest");
    add_extras(s, g, 0.6);
  } else if (shape < 12) {  // listing: request + clauses
    s.add(pick(kRequests, g));
    std::vector<int> parts;
    const int64_t which = g.randint(0, 10);  // 0: neither city, 1-3: dest, 4-6: origin, 7-9: both
    if (which >= 1 && which <= 3) parts = {0};
    if (which >= 4 && which <= 6) parts = {1};
    if (which >= 7) parts = g.bernoulli(0.7) ? std::vector<int>{1, 0} : std::vector<int>{0, 1};
    for (int p : parts) s.add_template(pick(p == 0 ? kDestClauses : kOriginClauses, g), p == 0 ? a : b, p == 0 ? "dest" : "origin");
    add_extras(s, g, which == 0 ? 1.0 : 0.6, which == 0);
  } else if (shape < 16) {  // far: verb, then date/time words, then "in <city>"
    s.add(pick({"i want to", "i will", "i need to", "i would like to", "we plan to"}, g));
    bool dest = g.bernoulli(0.5);
    s.add(pick(dest ? kFarDest : kFarOrigin, g));
    add_extras(s, g, 0.8, true);
    s.add_template(pick({"in {}", "in {}", "at {}"}, g), a, dest ? "dest" : "origin");
    if (g.bernoulli(0.3)) add_extras(s, g, 0.4);
  } else {  // is: the city and its verb at opposite ends
    bool dest = g.bernoulli(0.5);
    const std::string verb = pick(dest ? kIsDest : kIsOrigin, g);
    const std::string slot = dest ? "dest" : "origin";
    if (g.bernoulli(0.5)) {
      s.add_template("{} is the city i", a, slot);
      s.add(verb);
      add_extras(s, g, 0.5);
    } else {
      s.add("the city i");
      s.add(verb);
      add_extras(s, g, 0.8, true);
      s.add_template("is {}", a, slot);
    }
  }
  s.add(pick(kSuffix, g));
  return s;
}

Example to_example(const Sentence& s) {
  Example e;
  for (const auto& p : s.pieces) {
    std::istringstream in(p.words);
    std::string w;
    bool first = true;
    while (in >> w) {
      e.tokens.push_back(w);
      e.tags.push_back(p.slot.empty() ? "O" : (first ? "B-" : "I-") + p.slot);
      first = false;
    }
  }
  return e;
}

std::vector<Example> make_split(const Words& cities, int64_t n, uint64_t seed, std::vector<std::string>* intents) {
  Generator g(seed);
  std::vector<Example> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    Sentence s = make_sentence(cities, g);
    Example e = to_example(s);
    if (intents)
      intents->push_back(s.has_dest && s.has_origin ? "both" : s.has_dest ? "dest_only" : s.has_origin ? "origin_only" : "neither");
    out.push_back(std::move(e));
  }
  return out;
}

void check_options(const BookingOptions& o) {
  check(o.train_size >= 1, "booking", "train_size must be >= 1, got ", o.train_size);
  check(o.valid_size >= 1, "booking", "valid_size must be >= 1, got ", o.valid_size);
  check(o.test_size >= 1, "booking", "test_size must be >= 1, got ", o.test_size);
}
}  // namespace

// ==================================================================== public
std::vector<std::string> booking_tags() {
  std::vector<std::string> t = {"O"};
  for (const char* s : {"dest", "origin", "date", "time", "airline", "class"}) {
    t.push_back(std::string("B-") + s);
    t.push_back(std::string("I-") + s);
  }
  return t;
}

const std::vector<std::string>& booking_cities(const std::string& split) {
  if (split == "train") return kTrainCities;
  if (split == "valid") return kValidCities;
  if (split == "test") return kTestCities;
  fail("booking_cities", "split must be train, valid or test, got \"", split, "\"");
}

Dataset make_booking(const BookingOptions& o) {
  check_options(o);
  Dataset d;
  d.name = "booking";
  d.kind = TaskKind::Tagging;
  d.labels = booking_tags();
  d.train = make_split(kTrainCities, o.train_size, o.seed * 3 + 1, nullptr);
  d.valid = make_split(kValidCities, o.valid_size, o.seed * 3 + 2, nullptr);
  d.test = make_split(kTestCities, o.test_size, o.seed * 3 + 3, nullptr);
  return d;
}

Dataset make_booking_intent(const BookingOptions& o) {
  check_options(o);
  Dataset d;
  d.name = "booking_intent";
  d.kind = TaskKind::Classification;
  d.labels = {"both", "dest_only", "origin_only", "neither"};
  std::vector<std::string> tr, va, te;
  d.train = make_split(kTrainCities, o.train_size, o.seed * 3 + 1, &tr);
  d.valid = make_split(kValidCities, o.valid_size, o.seed * 3 + 2, &va);
  d.test = make_split(kTestCities, o.test_size, o.seed * 3 + 3, &te);
  auto label = [](std::vector<Example>& ex, const std::vector<std::string>& l) {
    for (size_t i = 0; i < ex.size(); ++i) {
      ex[i].label = l[i];
      ex[i].tags.clear();
    }
  };
  label(d.train, tr);
  label(d.valid, va);
  label(d.test, te);
  return d;
}

}  // namespace seqnn::data
