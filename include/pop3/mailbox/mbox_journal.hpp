// pop3/mailbox/mbox_journal.hpp: the UPDATE journal's bytes: its records, their checksum, and
// a parser with no I/O that checks every field before believing it (DESIGN.md, "Crash-safe
// UPDATE"). mbox_update.hpp writes journals and recovers from them.
//
//   pop3::detail::MboxJournalScan scan(limits.max_mailbox_bytes, limits.max_messages);
//   for (long n; (n = scan.feed(window)) > 0;) window = window.subspan(n);   // or need_more, invalid
//   if (scan.plan_sealed()) { /* scan.plan(), scan.arrivals(), scan.ended() ... */ }
//
// A journal is a sequence of records, each
//   u32 type, u32 sequence number (0, 1, 2, ...), u32 payload size, payload, u64 checksum
// (little-endian), the checksum taken over everything before it and seeded with the journal's
// random nonce, so a record left over from an older journal or out of place never passes.
// Records form groups, each valid only once its seal record is:
//   plan:    PLAN (mailbox identity, sizes, run count, path), RUNS..., DATA..., SEAL
//            the kept runs (from, length, to) and the kept bytes whose source lies in the span
//            the moves overwrite, [first_to, kept_end), in run order
//   arrival: ARRIVAL (from, end, to), DATA..., SEAL: mail that arrived during the session;
//            its bytes are in DATA only if its move overwrites its own source
//            (arrival_journaled), otherwise the source stays intact until the move is done
//   END (end, final_size, tail checksum): the file's content ends at `end`; at `final_size`
//            the file stood before the truncate, and the checksum is of its last bytes then.
// Every DATA record of a group but the last holds journal_data_max bytes, so the journal
// offset of any journaled byte follows from the group's first DATA record.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pop3::detail {

inline constexpr std::size_t journal_header_bytes = 12;
inline constexpr std::size_t journal_trailer_bytes = 8;
inline constexpr std::size_t journal_data_max = std::size_t{128} << 10;
inline constexpr std::size_t journal_runs_per_record = 4096;
inline constexpr std::size_t journal_run_bytes = 24;
inline constexpr std::size_t journal_path_max = 4096;
inline constexpr std::size_t journal_plan_fixed = 64;  // PLAN's payload before the path
// Each UPDATE or recovery moves arrivals at most a bounded number of times (mbox_update.hpp);
// more groups than this in one journal is not one we wrote.
inline constexpr std::size_t journal_max_arrivals = 4096;
inline constexpr std::size_t journal_record_max = journal_header_bytes + journal_data_max + journal_trailer_bytes;
inline constexpr std::string_view journal_magic{"popa3dJ1", 8};

enum class JournalRecordType : std::uint32_t { plan = 1, runs, data, seal, arrival, end };

// The done mark: zeros over the first record's header (type 0 is no record). A finished
// UPDATE in full durability writes it instead of truncating the journal, which keeps its
// blocks for the next one: freeing 200 MiB of journal and allocating it again cost more than
// popa3d's whole QUIT (DESIGN.md, "Crash-safe UPDATE"). A journal that begins with it, or is
// shorter than it, holds nothing to recover.
inline constexpr std::array<char, journal_header_bytes> journal_done_mark{};

// The bytes of one record with a payload of `payload` bytes.
inline constexpr std::uint64_t journal_record_bytes(std::uint64_t payload) noexcept {
  return journal_header_bytes + payload + journal_trailer_bytes;
}

// The parsers' results besides a byte count, as picohttpparser's.
inline constexpr long journal_invalid = -1;
inline constexpr long journal_need_more = -2;

inline void put_u32(char* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void put_u64(char* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
// On a little-endian machine a load (the byte loop is not turned into one by GCC 12, and
// the checksum reads every journaled byte through get_u64: 1.1 GB/s against 10 and more).
inline std::uint32_t get_u32(const char* p) noexcept {
  std::uint32_t v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, sizeof v);
  } else {
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  }
  return v;
}
inline std::uint64_t get_u64(const char* p) noexcept {
  std::uint64_t v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, sizeof v);
  } else {
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  }
  return v;
}

// A 64-bit checksum after XXH64's rounds: four lanes of 8 bytes, several GB/s, so the
// journal of a 50 MB mailbox costs milliseconds. It detects torn and stale records; it is no
// MAC (whoever can write the journal can write the mailbox too).
inline std::uint64_t journal_hash(std::uint64_t seed, std::span<const char> bytes) noexcept {
  constexpr std::uint64_t p1 = 0x9E3779B185EBCA87ULL, p2 = 0xC2B2AE3D27D4EB4FULL, p3 = 0x165667B19E3779F9ULL,
                          p4 = 0x85EBCA77C2B2AE63ULL, p5 = 0x27D4EB2F165667C5ULL;
  const auto rotl = [](std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  const auto round = [&](std::uint64_t acc, std::uint64_t input) { return rotl(acc + input * p2, 31) * p1; };
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  std::uint64_t h;
  if (n >= 32) {
    std::uint64_t v1 = seed + p1 + p2, v2 = seed + p2, v3 = seed, v4 = seed - p1;
    while (n >= 32) {
      v1 = round(v1, get_u64(p));
      v2 = round(v2, get_u64(p + 8));
      v3 = round(v3, get_u64(p + 16));
      v4 = round(v4, get_u64(p + 24));
      p += 32;
      n -= 32;
    }
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
    for (const std::uint64_t v : {v1, v2, v3, v4}) h = (h ^ round(0, v)) * p1 + p4;
  } else {
    h = seed + p5;
  }
  h += bytes.size();
  for (; n >= 8; p += 8, n -= 8) h = rotl(h ^ round(0, get_u64(p)), 27) * p1 + p4;
  if (n >= 4) {
    h = rotl(h ^ (std::uint64_t{get_u32(p)} * p1), 23) * p2 + p3;
    p += 4;
    n -= 4;
  }
  for (; n > 0; ++p, --n) h = rotl(h ^ (static_cast<unsigned char>(*p) * p5), 11) * p1;
  h ^= h >> 33;
  h *= p2;
  h ^= h >> 29;
  h *= p3;
  return h ^ (h >> 32);
}

// Fills in the header and checksum of a record whose payload (`payload_size` bytes) the
// caller has put at record + journal_header_bytes; returns the record's size.
inline std::size_t finish_journal_record(char* record, JournalRecordType type, std::uint32_t seq,
                                         std::uint64_t nonce, std::size_t payload_size) noexcept {
  put_u32(record, static_cast<std::uint32_t>(type));
  put_u32(record + 4, seq);
  put_u32(record + 8, static_cast<std::uint32_t>(payload_size));
  const std::size_t body = journal_header_bytes + payload_size;
  put_u64(record + body, journal_hash(nonce, {record, body}));
  return body + journal_trailer_bytes;
}

struct JournalRecord {
  JournalRecordType type{};
  std::uint32_t seq = 0;
  std::span<const char> payload;
};

// The largest payload a record of `type` may have, or 0 for no such type.
inline std::size_t journal_payload_max(std::uint32_t type) noexcept {
  switch (static_cast<JournalRecordType>(type)) {
    case JournalRecordType::plan: return journal_plan_fixed + journal_path_max;
    case JournalRecordType::runs: return journal_runs_per_record * journal_run_bytes;
    case JournalRecordType::data: return journal_data_max;
    case JournalRecordType::seal: return 16;
    case JournalRecordType::arrival:
    case JournalRecordType::end: return 24;
  }
  return 0;
}

// Parses the record at the front of `in`, which must be record number `seq` (0 is the PLAN
// record, which carries the nonce; later ones are checked against `nonce`). Returns its size
// with `record` filled in, journal_need_more if `in` ends before a record that may yet be
// whole, or journal_invalid. The payload's own fields are MboxJournalScan's to check.
inline long parse_journal_record(std::span<const char> in, std::uint64_t nonce, std::uint32_t seq,
                                 JournalRecord& record) noexcept {
  if (in.size() < journal_header_bytes) return journal_need_more;
  const std::uint32_t type = get_u32(in.data());
  const std::uint32_t size = get_u32(in.data() + 8);
  const std::size_t max = journal_payload_max(type);
  if (max == 0 || size > max || get_u32(in.data() + 4) != seq) return journal_invalid;
  if ((seq == 0) != (static_cast<JournalRecordType>(type) == JournalRecordType::plan)) return journal_invalid;
  const std::size_t total = journal_header_bytes + size + journal_trailer_bytes;
  if (in.size() < total) return journal_need_more;
  if (seq == 0) {
    if (size < journal_plan_fixed) return journal_invalid;
    nonce = get_u64(in.data() + journal_header_bytes + journal_magic.size());
  }
  const std::size_t body = journal_header_bytes + size;
  if (get_u64(in.data() + body) != journal_hash(nonce, in.first(body))) return journal_invalid;
  record.type = static_cast<JournalRecordType>(type);
  record.seq = seq;
  record.payload = in.subspan(journal_header_bytes, size);
  return static_cast<long>(total);
}

// One run of kept mail: `length` bytes at `from` go to `to` (to <= from).
struct MboxJournalRun {
  std::uint64_t from = 0;
  std::uint64_t length = 0;
  std::uint64_t to = 0;
};

struct MboxJournalPlan {
  std::uint64_t nonce = 0;
  std::uint64_t device = 0;      // the mailbox's st_dev and st_ino
  std::uint64_t inode = 0;
  std::uint64_t login_size = 0;  // the file's size the runs describe
  std::uint64_t first_to = 0;    // where the first deleted message began
  std::uint64_t kept_end = 0;    // where the kept mail ends once moved
  std::string path;
  std::vector<MboxJournalRun> runs;
  std::uint64_t journaled = 0;   // kept bytes in the plan's DATA records
  std::uint64_t data_at = 0;     // journal offset of its first DATA record
  std::uint32_t data_seq = 0;    // and that record's sequence number
};

// A sealed arrival group: bytes [from, end) of the file go to `to`, and are in the journal.
struct MboxJournalArrival {
  std::uint64_t from = 0;
  std::uint64_t end = 0;
  std::uint64_t to = 0;
  std::uint64_t data_at = 0;
  std::uint32_t data_seq = 0;
};

// The journal offset and sequence number of the DATA record holding byte `k` of a group's
// data, and k's offset in its payload.
struct JournalDataPosition {
  std::uint64_t record_at;
  std::uint32_t seq;
  std::size_t in_payload;
};
inline JournalDataPosition journal_data_position(std::uint64_t data_at, std::uint32_t data_seq, std::uint64_t k) noexcept {
  const std::uint64_t index = k / journal_data_max;
  return {data_at + index * journal_record_max, static_cast<std::uint32_t>(data_seq + index),
          static_cast<std::size_t>(k % journal_data_max)};
}

// The bytes of `bytes` bytes written as DATA records.
inline std::uint64_t journal_data_bytes(std::uint64_t bytes) noexcept {
  const std::uint64_t records = (bytes + journal_data_max - 1) / journal_data_max;
  return bytes + records * journal_record_bytes(0);
}

// What mbox_finish() may append after a group, at most: for each of the bounded arrival
// moves an ARRIVAL and a SEAL (no DATA: see arrival_journaled) and an END, and a last END.
inline constexpr std::uint64_t journal_tail_bytes(unsigned arrival_moves) noexcept {
  return (arrival_moves + 1) * (journal_record_bytes(24) + journal_record_bytes(16) + journal_record_bytes(24));
}

// The kept bytes of `run` that lie in [first_to, kept_end): a prefix of the run, since every
// run's source is at or after first_to.
inline std::uint64_t journaled_part(const MboxJournalRun& run, std::uint64_t kept_end) noexcept {
  return run.from < kept_end ? std::min(run.length, kept_end - run.from) : 0;
}

// An arrival group needs its bytes in the journal only if its move overwrites its own source.
inline bool arrival_journaled(std::uint64_t from, std::uint64_t end, std::uint64_t to) noexcept {
  return end - from > from - to;
}

// Builds PLAN's payload into `out` (journal_plan_fixed + path bytes); false if the path is
// too long for a journal.
inline bool encode_journal_plan(const MboxJournalPlan& plan, char* out, std::size_t& size) noexcept {
  if (plan.path.empty() || plan.path.size() > journal_path_max) return false;
  std::memcpy(out, journal_magic.data(), journal_magic.size());
  put_u64(out + 8, plan.nonce);
  put_u64(out + 16, plan.device);
  put_u64(out + 24, plan.inode);
  put_u64(out + 32, plan.login_size);
  put_u64(out + 40, plan.first_to);
  put_u64(out + 48, plan.kept_end);
  put_u32(out + 56, static_cast<std::uint32_t>(plan.runs.size()));
  put_u32(out + 60, static_cast<std::uint32_t>(plan.path.size()));
  std::memcpy(out + journal_plan_fixed, plan.path.data(), plan.path.size());
  size = journal_plan_fixed + plan.path.size();
  return true;
}

// Reads a journal record by record and keeps what its valid prefix says; refuses every field
// that does not fit the mailbox's bounds or the groups before it. Memory is bounded by
// max_runs runs and journal_max_arrivals arrival groups.
class MboxJournalScan {
 public:
  MboxJournalScan(std::uint64_t max_bytes, std::uint32_t max_runs) noexcept : max_bytes_(max_bytes), max_runs_(max_runs) {}

  // Parses one record at the front of `in` (which starts at journal offset offset()):
  // its size, journal_need_more or journal_invalid. After journal_invalid the scan takes no
  // more records; the journal is then what valid_end() says.
  long feed(std::span<const char> in) {
    if (failed_) return journal_invalid;
    JournalRecord r;
    const long n = parse_journal_record(in, plan_.nonce, seq_, r);
    if (n == journal_need_more) return n;
    record_end_ = offset_ + static_cast<std::uint64_t>(n);
    if (n < 0 || !take(r)) {
      failed_ = true;
      return journal_invalid;
    }
    ++seq_;
    offset_ += static_cast<std::uint64_t>(n);
    return n;
  }

  [[nodiscard]] std::uint64_t offset() const noexcept { return offset_; }
  // The journal offset after the last sealed group or END record: what counts.
  [[nodiscard]] std::uint64_t valid_end() const noexcept { return valid_end_; }
  [[nodiscard]] std::uint32_t valid_records() const noexcept { return valid_records_; }
  [[nodiscard]] bool plan_sealed() const noexcept { return plan_sealed_; }
  [[nodiscard]] const MboxJournalPlan& plan() const noexcept { return plan_; }
  // Sealed arrival groups after the plan (a group not yet sealed is not here).
  [[nodiscard]] std::span<const MboxJournalArrival> arrivals() const noexcept { return {arrivals_.data(), sealed_arrivals_}; }
  // Where the next arrival would come from and go to, after everything valid.
  [[nodiscard]] std::uint64_t next_from() const noexcept { return valid_from_; }
  [[nodiscard]] std::uint64_t next_to() const noexcept { return valid_to_; }
  // The last valid record is END: the file was to end at next_to(), and stood at next_from().
  [[nodiscard]] bool ended() const noexcept { return valid_ended_; }
  [[nodiscard]] std::uint64_t tail_hash() const noexcept { return tail_hash_; }
  // Whether any group or END followed the plan: then the kept runs had all moved.
  [[nodiscard]] bool kept_moved() const noexcept { return valid_records_ > plan_records_; }

 private:
  enum class Expect { plan, runs, data, seal, next };

  bool take(const JournalRecord& r) {
    const char* p = r.payload.data();
    const std::size_t size = r.payload.size();
    switch (expect_) {
      case Expect::plan: return take_plan(p, size);
      case Expect::runs: return r.type == JournalRecordType::runs && take_runs(p, size);
      case Expect::data: return r.type == JournalRecordType::data && take_data(size);
      case Expect::seal: return r.type == JournalRecordType::seal && take_seal(p, size);
      case Expect::next: break;
    }
    if (r.type == JournalRecordType::arrival && size == 24) return take_arrival(p);
    if (r.type == JournalRecordType::end && size == 24) return take_end(p);
    return false;
  }

  bool take_plan(const char* p, std::size_t size) {
    if (std::string_view(p, journal_magic.size()) != journal_magic) return false;
    plan_.nonce = get_u64(p + 8);
    plan_.device = get_u64(p + 16);
    plan_.inode = get_u64(p + 24);
    plan_.login_size = get_u64(p + 32);
    plan_.first_to = get_u64(p + 40);
    plan_.kept_end = get_u64(p + 48);
    runs_left_ = get_u32(p + 56);
    const std::uint32_t path_size = get_u32(p + 60);
    // Something was deleted, so the kept mail ends before the file did.
    if (plan_.login_size > max_bytes_ || plan_.kept_end >= plan_.login_size || plan_.first_to > plan_.kept_end)
      return false;
    if (runs_left_ > max_runs_ || path_size == 0 || path_size != size - journal_plan_fixed) return false;
    plan_.path.assign(p + journal_plan_fixed, path_size);
    if (plan_.path.front() != '/' || plan_.path.find('\0') != std::string::npos) return false;
    to_ = plan_.first_to;
    if (runs_left_ > 0) {
      expect_ = Expect::runs;
      return true;
    }
    return begin_data(0);
  }

  bool take_runs(const char* p, std::size_t size) {
    if (size == 0 || size % journal_run_bytes != 0 || size / journal_run_bytes > runs_left_) return false;
    for (std::size_t at = 0; at < size; at += journal_run_bytes) {
      MboxJournalRun run{get_u64(p + at), get_u64(p + at + 8), get_u64(p + at + 16)};
      const std::uint64_t previous_end = plan_.runs.empty() ? plan_.first_to : plan_.runs.back().from + plan_.runs.back().length;
      // In order, moving down, each after a deleted message, inside the file.
      if (run.to != to_ || run.from <= previous_end || run.from > plan_.login_size ||
          run.length == 0 || run.length > plan_.login_size - run.from)
        return false;
      to_ += run.length;  // run.to <= run.from follows: to_ never passes the previous run's end
      plan_.journaled += journaled_part(run, plan_.kept_end);
      plan_.runs.push_back(run);
    }
    runs_left_ -= static_cast<std::uint32_t>(size / journal_run_bytes);
    if (runs_left_ > 0) return true;
    if (to_ != plan_.kept_end) return false;
    return begin_data(plan_.journaled);
  }

  bool begin_data(std::uint64_t bytes) {
    if (to_ != plan_.kept_end) return false;
    data_left_ = bytes;
    group_bytes_ = bytes;
    plan_.data_at = record_end_;  // the DATA records follow this one
    plan_.data_seq = seq_ + 1;
    expect_ = bytes > 0 ? Expect::data : Expect::seal;
    return true;
  }

  bool take_data(std::size_t size) {
    if (size == 0 || size > data_left_) return false;
    // All but the last DATA record of a group are full (journal_data_position).
    if (size != journal_data_max && size != data_left_) return false;
    data_left_ -= size;
    if (data_left_ == 0) expect_ = Expect::seal;
    return true;
  }

  bool take_seal(const char* p, std::size_t size) {
    if (size != 16 || get_u64(p) != group_bytes_) return false;
    if (!plan_sealed_) {
      if (get_u64(p + 8) != plan_.runs.size()) return false;
      plan_sealed_ = true;
      plan_records_ = seq_ + 1;
      next_from_ = plan_.login_size;
      next_to_ = plan_.kept_end;
    } else {
      if (get_u64(p + 8) != 0) return false;
      const MboxJournalArrival& a = arrivals_.back();
      next_from_ = a.end;
      next_to_ = a.to + (a.end - a.from);
      sealed_arrivals_ = arrivals_.size();
      ended_ = false;
    }
    expect_ = Expect::next;
    mark_valid();
    return true;
  }

  bool take_arrival(const char* p) {
    MboxJournalArrival a{get_u64(p), get_u64(p + 8), get_u64(p + 16), 0, 0};
    if (a.from != next_from_ || a.to != next_to_ || a.end <= a.from || a.end > max_bytes_) return false;
    if (arrivals_.size() >= journal_max_arrivals) return false;
    a.data_at = record_end_;
    a.data_seq = seq_ + 1;
    arrivals_.push_back(a);
    data_left_ = group_bytes_ = arrival_journaled(a.from, a.end, a.to) ? a.end - a.from : 0;
    expect_ = data_left_ > 0 ? Expect::data : Expect::seal;
    return true;
  }

  bool take_end(const char* p) {
    if (get_u64(p) != next_to_ || get_u64(p + 8) != next_from_) return false;
    tail_hash_ = get_u64(p + 16);
    ended_ = true;
    mark_valid();
    return true;
  }

  void mark_valid() {
    valid_records_ = seq_ + 1;
    valid_from_ = next_from_;
    valid_to_ = next_to_;
    valid_ended_ = ended_;
    valid_end_ = record_end_;
  }

  std::uint64_t max_bytes_;
  std::uint32_t max_runs_;
  bool failed_ = false;
  Expect expect_ = Expect::plan;
  std::uint32_t seq_ = 0;
  std::uint64_t offset_ = 0;
  std::uint64_t record_end_ = 0;  // journal offset after the record being taken
  MboxJournalPlan plan_;
  std::uint32_t runs_left_ = 0;
  std::uint64_t to_ = 0;
  std::uint64_t data_left_ = 0;
  std::uint64_t group_bytes_ = 0;
  bool plan_sealed_ = false;
  std::uint32_t plan_records_ = 0;
  std::vector<MboxJournalArrival> arrivals_;
  std::size_t sealed_arrivals_ = 0;
  std::uint64_t next_from_ = 0;
  std::uint64_t next_to_ = 0;
  bool ended_ = false;
  std::uint64_t tail_hash_ = 0;
  std::uint32_t valid_records_ = 0;
  std::uint64_t valid_end_ = 0;
  std::uint64_t valid_from_ = 0;
  std::uint64_t valid_to_ = 0;
  bool valid_ended_ = false;
};

// The plan a journal's first record names, also under the done mark, which zeroes only the
// record's header: the header is rebuilt from the path size in the payload, and the checksum
// still decides. False for an empty journal or one whose first record is no PLAN.
inline bool journal_first_plan(std::span<const char> first, MboxJournalPlan& plan) {
  std::vector<char> record(first.begin(), first.end());
  constexpr std::size_t fixed = journal_header_bytes + journal_plan_fixed;
  if (record.size() < fixed) return false;
  if (std::equal(journal_done_mark.begin(), journal_done_mark.end(), record.begin())) {
    const std::uint32_t path_size = get_u32(record.data() + journal_header_bytes + 60);
    if (path_size > journal_path_max) return false;
    put_u32(record.data(), static_cast<std::uint32_t>(JournalRecordType::plan));
    put_u32(record.data() + 8, static_cast<std::uint32_t>(journal_plan_fixed + path_size));
  }
  MboxJournalScan scan(~std::uint64_t{0}, ~std::uint32_t{0});
  if (scan.feed({record.data(), record.size()}) <= 0) return false;
  plan = scan.plan();
  return true;
}

}  // namespace pop3::detail
