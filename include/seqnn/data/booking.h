// seqnn/data/booking.h: the embedded default dataset, ticket-booking slot filling (seed 000).
//
// A seeded generator of booking requests labelled with BIO slots for six slot types:
//   dest, origin, date, time, airline, class
// in which the same word gets different labels from its context:
//   arrive Taipei on November 2nd   ->  O B-dest O B-date I-date
//   leave  Taipei on November 2nd   ->  O B-origin O B-date I-date
// The templates vary the verbs and phrasings of each slot, use multi-word cities, make slots
// optional and change their order, and put the word that decides dest vs origin far from the
// city in some sentences ("Taipei is the city i will be flying out of"), so a model that sees
// only a small window around each word cannot tell the two apart.
//
// Train, valid and test sentences use three DISJOINT city lists: valid and test measure how
// well a model labels cities it has never seen (they reach it as <unk>).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "seqnn/data/dataset.h"

namespace seqnn::data {

struct BookingOptions {
  int64_t train_size = 3000;
  int64_t valid_size = 400;
  int64_t test_size = 1000;
  uint64_t seed = 2024;
};

// The 13 BIO tags: "O", then B-/I- for dest, origin, date, time, airline, class.
std::vector<std::string> booking_tags();
// The city lists of each split ("train", "valid", "test"); pairwise disjoint.
const std::vector<std::string>& booking_cities(const std::string& split);

// The tagging dataset (name "booking"). Same options -> the same sentences, bit for bit.
Dataset make_booking(const BookingOptions& options);
// The same sentences as a 4-way classification task (name "booking_intent"): which of
// origin/destination the request names: "both", "dest_only", "origin_only", "neither".
Dataset make_booking_intent(const BookingOptions& options);

}  // namespace seqnn::data
