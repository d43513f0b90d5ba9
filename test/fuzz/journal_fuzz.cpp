// Journal bytes through MboxJournalScan (mailbox/mbox_journal.hpp), fed in windows of
// fuzzer-chosen sizes as recovery reads the file, against the same bytes fed whole: the same
// valid prefix and groups; and whatever the scan accepts keeps the bounds recovery relies on;
// and the plan read back from under the done mark (journal_first_plan) is the one written.
// Random bytes rarely pass a checksum, so most inputs are assembled: the fuzzer's bytes give
// each record's type and payload, and the harness adds the header, the magic and the checksum.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_input.hpp"
#include "pop3/mailbox/mbox_journal.hpp"

namespace {

using namespace pop3::detail;

// Records from `input`: a type byte, a payload size (two bytes), the payload; the first record
// is a PLAN with the magic in place, the nonce that of its payload.
std::string assemble(pop3::fuzz::FuzzInput& input) {
  std::string out;
  std::uint64_t nonce = 0;
  for (std::uint32_t seq = 0; seq < 64 && !input.rest().empty(); ++seq) {
    const std::uint32_t type = seq == 0 ? 1 : 1 + input.byte() % 6;
    std::size_t size = input.byte();
    size = size * 256 + input.byte();
    std::string_view rest = input.rest();
    std::string payload(rest.substr(0, std::min(size, rest.size())));
    for (std::size_t i = 0; i < payload.size(); ++i) input.byte();
    if (type == 1) {
      if (payload.size() < journal_plan_fixed) payload.resize(journal_plan_fixed, '\0');
      payload.replace(0, journal_magic.size(), journal_magic);
      if (seq == 0) nonce = get_u64(payload.data() + 8);
    }
    if (payload.size() > journal_payload_max(type)) payload.resize(journal_payload_max(type));
    std::string record(journal_header_bytes + payload.size() + journal_trailer_bytes, '\0');
    std::copy(payload.begin(), payload.end(), record.begin() + journal_header_bytes);
    finish_journal_record(record.data(), static_cast<JournalRecordType>(type), seq, nonce, payload.size());
    out += record;
  }
  return out;
}

MboxJournalScan scan(std::string_view bytes, const std::size_t (&windows)[4], std::uint64_t max_bytes,
                     std::uint32_t max_runs) {
  MboxJournalScan s(max_bytes, max_runs);
  std::size_t at = 0, have = 0, turn = 0;
  for (int steps = 0; steps < 1 << 20 && at <= bytes.size(); ++steps) {
    have = std::min(bytes.size() - at, have + windows[turn++ % 4]);
    const long n = s.feed(bytes.substr(at, have));
    if (n > 0) {
      POP3_FUZZ_CHECK(static_cast<std::size_t>(n) <= have);
      at += static_cast<std::size_t>(n);
      have = 0;
    } else if (n != journal_need_more || at + have == bytes.size()) {
      break;
    }
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pop3::fuzz::FuzzInput input{data, size};
  std::size_t windows[4];
  for (std::size_t& w : windows) w = input.size_in(40000);
  const std::uint8_t mode = input.byte();
  const std::uint64_t max_bytes = (mode & 2) != 0 ? 1u << 20 : ~std::uint64_t{0} >> 1;
  const std::uint32_t max_runs = (mode & 4) != 0 ? 3 : 1u << 16;
  const std::string bytes = (mode & 1) != 0 ? std::string(input.rest()) : assemble(input);
  const std::size_t whole[4] = {bytes.size() + 1, bytes.size() + 1, bytes.size() + 1, bytes.size() + 1};
  const MboxJournalScan a = scan(bytes, windows, max_bytes, max_runs);
  const MboxJournalScan b = scan(bytes, whole, max_bytes, max_runs);
  POP3_FUZZ_CHECK(a.valid_end() == b.valid_end() && a.plan_sealed() == b.plan_sealed() && a.ended() == b.ended());
  POP3_FUZZ_CHECK(a.valid_end() <= bytes.size());
  // --recover's sweep reads a done journal's plan under the done mark: the same plan as the
  // first record gave before the mark, and never one the scan would not take.
  MboxJournalScan first(~std::uint64_t{0}, ~std::uint32_t{0});
  const bool had_plan = first.feed(bytes) > 0;
  std::string done = bytes;
  if (done.size() >= journal_done_mark.size()) std::fill_n(done.begin(), journal_done_mark.size(), '\0');
  MboxJournalPlan under_mark;
  const bool found = journal_first_plan({done.data(), done.size()}, under_mark);
  if (had_plan) {
    POP3_FUZZ_CHECK(found && under_mark.path == first.plan().path && under_mark.device == first.plan().device &&
                    under_mark.inode == first.plan().inode);
  }
  if (found) POP3_FUZZ_CHECK(!under_mark.path.empty() && under_mark.path.front() == '/');
  if (!a.plan_sealed()) return 0;
  POP3_FUZZ_CHECK(a.next_from() == b.next_from() && a.next_to() == b.next_to() && a.kept_moved() == b.kept_moved());
  const MboxJournalPlan& plan = a.plan();
  POP3_FUZZ_CHECK(plan.login_size <= max_bytes && plan.kept_end < plan.login_size && plan.runs.size() <= max_runs);
  POP3_FUZZ_CHECK(!plan.path.empty() && plan.path.front() == '/');
  std::uint64_t to = plan.first_to, end = plan.first_to, journaled = 0;
  for (const MboxJournalRun& run : plan.runs) {
    POP3_FUZZ_CHECK(run.to == to && run.to <= run.from && run.from > end && run.length > 0);
    POP3_FUZZ_CHECK(run.from <= plan.login_size && run.length <= plan.login_size - run.from);
    to += run.length;
    end = run.from + run.length;
    journaled += journaled_part(run, plan.kept_end);
  }
  POP3_FUZZ_CHECK(to == plan.kept_end && journaled == plan.journaled);
  if (plan.journaled > 0) {
    const JournalDataPosition last = journal_data_position(plan.data_at, plan.data_seq, plan.journaled - 1);
    POP3_FUZZ_CHECK(last.record_at < a.valid_end());
  }
  for (const MboxJournalArrival& arrival : a.arrivals()) {
    POP3_FUZZ_CHECK(arrival.to < arrival.from && arrival.from < arrival.end && arrival.end <= max_bytes);
  }
  POP3_FUZZ_CHECK(a.next_to() < a.next_from() && a.next_from() <= max_bytes);
  return 0;
}
