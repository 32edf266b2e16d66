//! The coverage table: every MUST of `spec/` (tagged `MUST [§-n]` there) and what checks it.
//! `spec/coverage.md` is generated from this and from the relay cases' `covers`; a test fails
//! when a MUST has no checker, when a checker does not exist, or when the file drifts.
//!
//! Checker kinds: `case:ID` (a conformance case), `vector:PATTERN` (vectors whose ids match),
//! `test:FILE::NAME` (a test of the reference implementation), `fuzz:TARGET` (a fuzz target),
//! `review:WHERE` (holds by construction; where an auditor reads it).

use std::collections::BTreeMap;
use std::path::Path;

/// Checkers other than the relay cases, by MUST id.
pub const CHECKERS: &[(&str, &[&str])] = &[
    (
        "2.1-1",
        &[
            "vector:VEC-2.1-FRAME-BAD-PREFIX-*",
            "test:protocol/src/framing.rs::framing_2_1_rejects_zero_and_oversize_lengths_from_the_prefix_alone",
        ],
    ),
    ("2.1-2", &["vector:VEC-2.1-FRAME-BAD-PREFIX-*"]),
    (
        "2.1-3",
        &["test:protocol/src/net.rs::net_2_1_stream_ending_mid_frame_is_truncated"],
    ),
    (
        "2.2-1",
        &[
            "vector:VEC-3-INVALID-*",
            "vector:VEC-4.1-INVALID-*",
            "vector:VEC-7-INVALID-*",
        ],
    ),
    (
        "2.2-2",
        &[
            "fuzz:round_trip",
            "test:protocol/tests/properties.rs::codec_2_2_arbitrary_bytes_never_panic_and_accepted_input_is_canonical",
        ],
    ),
    (
        "2.2-3",
        &[
            "vector:VEC-3-INVALID-*",
            "vector:VEC-4.1-INVALID-*",
            "vector:VEC-7-INVALID-*",
            "review:spec/vectors/check_vectors.py (decodes every negative vector by §2.2's order, independently of the reference)",
        ],
    ),
    ("2.3-1", &["vector:VEC-7-INVALID-3"]),
    ("3.1-2", &["vector:VEC-3-INVALID-14"]),
    ("3.2-1", &["vector:VEC-3.2-NICK-INVALID-*"]),
    (
        "3.2-4",
        &["vector:VEC-5-HANDSHAKE-2", "vector:VEC-5-HANDSHAKE-3"],
    ),
    (
        "3.9-2",
        &["test:relay/tests/chat.rs::chat_3_9_peer_gone_reports_undelivered_messages"],
    ),
    (
        "3.11-2",
        &["test:protocol/src/relay.rs::relay_3_11_error_nick_presence_is_not_a_decoding_rule"],
    ),
    (
        "3.7-2",
        &[
            "test:relay/src/cli.rs::cli_10_2_the_idle_timeout_is_never_below_twice_the_ping_interval",
            "review:protocol/src/connection.rs (PING_INTERVAL, a PING every 60 s)",
        ],
    ),
    (
        "10.2-2",
        &[
            "test:relay/src/cli.rs::cli_10_2_the_idle_timeout_is_never_below_twice_the_ping_interval",
        ],
    ),
    (
        "3.7-3",
        &[
            "test:relay/tests/chat.rs::chat_a_relay_that_stops_answering_pings_is_noticed",
            "test:relay/tests/chat.rs::chat_connect_to_a_silent_server_times_out",
        ],
    ),
    (
        "10.2-3",
        &[
            "test:relay/src/ops.rs::ops_10_2_connections_fit_under_the_file_limit",
            "test:relay/src/ops.rs::the_soft_file_limit_is_raised_to_the_hard_one",
        ],
    ),
    (
        "10.2-1",
        &["test:relay/tests/relay.rs::relay_10_2_a_client_stalled_mid_frame_times_out"],
    ),
    (
        "10.2-4",
        &[
            "test:relay/tests/relay.rs::relay_10_2_senders_together_cannot_knock_off_a_reader_that_reads",
        ],
    ),
    (
        "14-1",
        &[
            "test:conformance/tests/runners.rs::relay_cases_14_pass_against_a_three_node_cluster_with_clients_spread_over_it",
            "test:conformance/tests/runners.rs::relay_cases_14_fail_against_relays_that_are_not_one_cluster",
        ],
    ),
    (
        "14.1-1",
        &[
            "test:relay/tests/cluster.rs::cluster_14_a_nickname_raced_on_two_nodes_has_exactly_one_winner",
            "test:relay/tests/cluster.rs::cluster_14_frames_cross_nodes_in_order_with_their_true_source",
        ],
    ),
    (
        "14.1-2",
        &[
            "test:relay/tests/cluster.rs::cluster_14_3_4_no_frame_reaches_a_connection_before_its_registered",
        ],
    ),
    (
        "14.1-3",
        &[
            "test:relay/tests/cluster.rs::cluster_14_a_node_that_loses_its_lease_drops_the_connection",
        ],
    ),
    (
        "14.1-4",
        &[
            "test:relay/tests/cluster.rs::cluster_14_a_nats_restart_keeps_clients_and_refuses_frames_during_the_outage",
        ],
    ),
    (
        "14.2-1",
        &[
            "test:relay/tests/cluster.rs::cluster_14_frames_cross_nodes_in_order_with_their_true_source",
            "test:relay/tests/chat.rs::chat_14_alice_and_bob_on_two_cluster_nodes_chat_and_verify_end_to_end",
        ],
    ),
    (
        "14.2-2",
        &[
            "test:relay/tests/cluster.rs::cluster_14_frames_cross_nodes_in_order_with_their_true_source",
            "test:relay/tests/cluster.rs::cluster_14_10_2_a_reader_that_falls_behind_across_nodes_costs_frames_not_the_sender",
        ],
    ),
    (
        "14.2-3",
        &[
            "test:relay/tests/cluster.rs::cluster_14_frames_cross_nodes_in_order_with_their_true_source",
            "test:relay/tests/cluster.rs::cluster_14_2_a_partner_is_told_gone_even_when_the_last_frame_and_bye_arrive_together",
            "test:relay/tests/cluster.rs::cluster_14_3_8_a_node_that_stops_tells_partners_elsewhere_and_frees_its_nicknames",
        ],
    ),
    (
        "14.2-5",
        &[
            "test:relay/tests/cluster.rs::cluster_14_2_a_node_cut_off_alone_is_taken_for_stopped_and_both_ends_agree",
        ],
    ),
    (
        "14.2-4",
        &[
            "test:relay/tests/cluster.rs::cluster_14_killing_a_node_disconnects_only_its_own_clients",
        ],
    ),
    (
        "14.3-1",
        &[
            "test:relay/tests/cluster.rs::cluster_14_a_nats_restart_keeps_clients_and_refuses_frames_during_the_outage",
        ],
    ),
    (
        "14.3-2",
        &[
            "test:relay/tests/cluster.rs::cluster_14_a_nats_restart_keeps_clients_and_refuses_frames_during_the_outage",
        ],
    ),
    (
        "14.3-3",
        &[
            "test:relay/tests/cluster.rs::cluster_14_3_a_node_that_cannot_renew_for_a_whole_lease_closes_its_clients",
        ],
    ),
    (
        "15.2-1",
        &[
            "review:protocol/src/transport.rs and relay/src/tls.rs (with_protocol_versions(&[&TLS13]))",
            "test:conformance/tests/runners.rs::relay_cases_15_pass_over_tls_against_the_reference_relay",
        ],
    ),
    (
        "15.2-2",
        &[
            "test:relay/tests/tls.rs::tls_15_2_a_plain_client_against_a_tls_relay_gets_a_clear_error",
        ],
    ),
    (
        "15.2-3",
        &[
            "test:relay/tests/tls.rs::tls_15_2_a_plain_client_against_a_tls_relay_gets_a_clear_error",
            "test:protocol/src/transport.rs::transport_15_2_tls_records_are_recognised_in_a_length_prefix",
        ],
    ),
    (
        "15.3-1",
        &[
            "test:relay/tests/tls.rs::tls_15_pinned_clients_chat_end_to_end",
            "test:relay/tests/tls.rs::tls_15_3_a_wrong_pin_is_refused_in_plain_words",
        ],
    ),
    (
        "15.3-2",
        &[
            "test:relay/tests/tls.rs::tls_15_3_a_self_signed_certificate_without_a_pin_is_not_trusted_and_named",
        ],
    ),
    (
        "4.2-1",
        &[
            "test:protocol/tests/session.rs::session_4_2_every_helo_and_every_accept_uses_a_fresh_key",
        ],
    ),
    (
        "4.2-2",
        &["test:relay/tests/chat.rs::chat_4_2_a_chat_with_oneself_is_refused_in_plain_words"],
    ),
    (
        "4.3-1",
        &[
            "test:protocol/tests/session.rs::session_4_2_every_helo_and_every_accept_uses_a_fresh_key",
            "test:relay/tests/chat.rs::chat_reject_is_reported_to_the_initiator",
        ],
    ),
    (
        "4.3-2",
        &[
            "test:protocol/tests/session.rs::session_4_2_every_helo_and_every_accept_uses_a_fresh_key",
        ],
    ),
    (
        "4.3-3",
        &[
            "test:protocol/tests/session.rs::session_4_3_unsupported_version_is_rejected_without_asking",
        ],
    ),
    (
        "4.3-4",
        &[
            "test:protocol/tests/session.rs::session_4_2_every_helo_and_every_accept_uses_a_fresh_key",
        ],
    ),
    (
        "4.3-5",
        &[
            "test:protocol/tests/session.rs::session_4_2_every_helo_and_every_accept_uses_a_fresh_key",
        ],
    ),
    (
        "4.3-7",
        &[
            "test:relay/tests/chat.rs::chat_4_3_a_busy_client_s_reject_reaches_the_initiator_as_busy",
        ],
    ),
    (
        "4.4-1",
        &[
            "vector:VEC-4.4-INVALID-1",
            "test:protocol/tests/session.rs::session_4_4_commitment_mismatch_is_fatal_and_stays_fatal",
        ],
    ),
    (
        "4.4-2",
        &[
            "vector:VEC-4.4-INVALID-*",
            "test:protocol/tests/wycheproof.rs::wycheproof_x25519_4_4_rejects_every_low_order_case",
        ],
    ),
    (
        "4.4-3",
        &["test:protocol/tests/session.rs::session_4_4_low_order_key_aborts_before_pub_key"],
    ),
    (
        "4.4-4",
        &[
            "test:protocol/tests/session.rs::session_4_4_a_failed_handshake_is_announced_to_the_initiator",
            "test:protocol/tests/session.rs::session_4_4_commitment_mismatch_is_fatal_and_stays_fatal",
        ],
    ),
    (
        "4.5-1",
        &[
            "test:protocol/tests/session.rs::session_4_5_unexpected_message_during_handshake_is_fatal",
            "fuzz:session",
        ],
    ),
    (
        "4.5-2",
        &["test:protocol/tests/session.rs::session_4_5_and_8_6_waits_time_out"],
    ),
    (
        "4.5-3",
        &["test:relay/tests/chat.rs::chat_4_5_both_opening_at_once_gives_one_chat"],
    ),
    (
        "4.6-1",
        &[
            "test:protocol/tests/session.rs::session_7_7_end_closes_both_sides_and_reports_undelivered",
            "fuzz:session",
        ],
    ),
    (
        "4.6-2",
        &[
            "review:protocol/src/session.rs (State::Closed drops the Established keys; ChainKey is ZeroizeOnDrop)",
        ],
    ),
    (
        "5.2-1",
        &[
            "vector:VEC-5-HANDSHAKE-*",
            "test:protocol/src/key_schedule.rs::key_schedule_5_2_transcript_binds_canonical_nicknames",
        ],
    ),
    ("5.3-1", &["vector:VEC-4.4-INVALID-*"]),
    (
        "4.7-1",
        &[
            "vector:VEC-5-HANDSHAKE-*",
            "test:relay/tests/identity.rs::identity_12_5_verify_once_then_verified_after_reconnecting_and_a_relay_in_the_middle_blocks_both",
        ],
    ),
    ("5.7-1", &["vector:VEC-4.7-INVALID-IDENTITY-*"]),
    (
        "12.5-3",
        &[
            "test:relay/tests/identity.rs::identity_12_5_verify_once_then_verified_after_reconnecting_and_a_relay_in_the_middle_blocks_both",
            "test:client-iced/src/model.rs::model_12_5_a_new_code_alone_warns_nothing_a_changed_verified_identity_blocks",
        ],
    ),
    (
        "12.5-5",
        &[
            "test:protocol/src/contacts.rs::contacts_12_5_a_verified_identity_carries_over_and_a_changed_one_blocks",
        ],
    ),
    (
        "5.4-1",
        &[
            "review:protocol/src/key_schedule.rs (KeySchedule is ZeroizeOnDrop; the session keeps only chain keys)",
        ],
    ),
    (
        "5.5-1",
        &["test:relay/tests/chat.rs::chat_end_to_end_handshake_messages_typing_receipts_and_end"],
    ),
    (
        "6.2-1",
        &[
            "test:protocol/tests/erasure.rs::erasure_6_2_no_secret_of_an_ended_chat_is_left_in_memory",
            "review:protocol/src/records.rs (ChainKey and RecordKeys are ZeroizeOnDrop; plaintexts are Zeroizing)",
        ],
    ),
    (
        "6.2-2",
        &["test:protocol/src/records.rs::records_6_2_the_last_sequence_number_is_never_sent"],
    ),
    (
        "6.2-3",
        &[
            "test:protocol/src/records.rs::records_6_2_a_record_numbered_2_64_minus_1_is_refused_as_tampered",
        ],
    ),
    (
        "6.3-1",
        &[
            "vector:VEC-4.1-INVALID-5",
            "vector:VEC-4.1-INVALID-6",
            "test:protocol/src/handshake.rs::records_6_3_ciphertext_length_must_be_64k_plus_16",
        ],
    ),
    ("6.4-1", &["vector:VEC-6.4-4", "vector:VEC-6.4-5"]),
    ("6.4-2", &["vector:VEC-6.4-6", "vector:VEC-6.4-7"]),
    (
        "6.4-3",
        &["vector:VEC-6.4-1", "vector:VEC-6.4-2", "vector:VEC-6.4-3"],
    ),
    (
        "6.4-4",
        &["vector:VEC-6.4-1", "vector:VEC-6.4-2", "fuzz:record_open"],
    ),
    (
        "6.4-5",
        &[
            "test:protocol/tests/session.rs::session_6_4_records_too_far_ahead_end_the_session_instead_of_wedging_it",
        ],
    ),
    (
        "7.1-1",
        &[
            "vector:VEC-7-INVALID-6",
            "vector:VEC-7-INVALID-7",
            "vector:VEC-7-INVALID-8",
        ],
    ),
    (
        "7.4-1",
        &["test:protocol/tests/session.rs::session_7_messages_both_ways_with_delivery_receipts"],
    ),
    (
        "7.4-2",
        &["test:protocol/tests/session.rs::session_7_4_an_ack_for_an_unknown_number_is_ignored"],
    ),
    (
        "7.4-3",
        &[
            "test:protocol/tests/session.rs::session_3_9_peer_gone_reports_unacknowledged_messages",
            "test:relay/tests/chat.rs::chat_3_9_peer_gone_reports_undelivered_messages",
        ],
    ),
    ("7.5-1", &["vector:VEC-7-INVALID-4"]),
    (
        "8.1-1",
        &[
            "test:protocol/src/smp.rs::smp_8_1_random_exponents_are_in_range",
            "review:protocol/src/smp.rs (SecretInt::random_exponent)",
        ],
    ),
    (
        "8.1-2",
        &[
            "vector:VEC-8.5-INVALID-SMP1-3",
            "test:protocol/src/smp.rs::smp_8_1_non_residue_with_a_valid_proof_is_rejected",
            "test:protocol/src/smp/group.rs::smp_8_1_subgroup_check_rejects_non_residues",
        ],
    ),
    (
        "8.2-1",
        &[
            "vector:VEC-8.2-ANSWER-*",
            "test:protocol/src/smp.rs::smp_8_2_answers_are_trimmed_and_normalized_to_nfc",
        ],
    ),
    ("8.3-1", &["vector:VEC-7-INVALID-9"]),
    (
        "8.3-2",
        &["vector:VEC-7-INVALID-10", "vector:VEC-7-INVALID-11"],
    ),
    (
        "8.5-1",
        &["vector:VEC-8.5-INVALID-SMP1-*", "fuzz:smp_steps"],
    ),
    (
        "8.5-2",
        &[
            "vector:VEC-8-SMP-RUN-2",
            "test:protocol/tests/session.rs::session_8_smp_with_a_different_answer_fails_on_both_sides",
        ],
    ),
    (
        "8.5-3",
        &[
            "test:protocol/tests/erasure.rs::erasure_6_2_no_secret_of_an_ended_chat_is_left_in_memory",
            "review:protocol/src/smp.rs (SecretInt, and Comb in smp/group.rs, zeroize on drop; §12.3)",
        ],
    ),
    (
        "8.6-1",
        &[
            "test:protocol/tests/session.rs::session_8_6_abort_is_reported_to_the_peer",
            "test:protocol/src/smp.rs::smp_8_5_forged_proof_is_rejected",
            "test:protocol/src/smp.rs::smp_8_6_smp0_during_an_answerers_run_aborts_it",
        ],
    ),
    (
        "8.6-2",
        &[
            "test:protocol/src/smp.rs::smp_8_6_both_asking_at_once_the_winner_goes_on_and_both_finish",
        ],
    ),
    (
        "8.6-3",
        &["test:protocol/src/smp.rs::smp_8_6_an_answer_given_before_smp1_arrives_is_used"],
    ),
    (
        "8.6-4",
        &["test:protocol/src/smp.rs::smp_8_6_a_failed_check_is_reported_as_failed_not_as_a_cancel"],
    ),
    (
        "8.6-5",
        &["test:protocol/src/smp.rs::smp_8_6_smp_messages_in_idle_are_ignored_silently"],
    ),
    (
        "8.6-6",
        &["test:protocol/tests/session.rs::session_4_5_and_8_6_waits_time_out"],
    ),
    (
        "9.1-1",
        &["vector:VEC-3-INVALID-15", "vector:VEC-3-INVALID-16"],
    ),
    (
        "9.1-2",
        &["test:relay/tests/chat.rs::chat_open_to_nobody_says_so"],
    ),
    (
        "11-2",
        &[
            "test:protocol/tests/session.rs::session_4_3_unsupported_version_is_rejected_without_asking",
        ],
    ),
    (
        "12.4-1",
        &[
            "review:protocol/src/primitives.rs (hmac_sha256_verify), session.rs (commitment), smp.rs (ct_equal): subtle::ConstantTimeEq",
        ],
    ),
    (
        "12.4-2",
        &[
            "test:protocol/tests/snapshots.rs::snapshot_debug_of_keys_and_sessions_prints_no_secret",
            "review:relay/src/conn.rs (logs no payloads or nicknames at info)",
        ],
    ),
    (
        "12.4-3",
        &["test:protocol/tests/snapshots.rs::snapshot_debug_of_keys_and_sessions_prints_no_secret"],
    ),
    (
        "12.4-4",
        &["fuzz:round_trip", "fuzz:session", "fuzz:relay_stream"],
    ),
    (
        "12.4-5",
        &[
            "test:protocol/src/inner.rs::inner_12_4_5_network_text_cannot_start_a_line_move_the_cursor_or_reorder_text",
            "test:client-iced/src/model.rs::model_1_text_from_the_network_is_shown_escaped",
            "test:conformance/src/bin/cryptully-peer.rs::network_text_cannot_start_a_line_move_the_cursor_or_reorder_text",
        ],
    ),
];

/// A MUST found in the spec.
#[derive(Clone, Debug)]
pub struct Must {
    /// Its id, e.g. `3.4-2`.
    pub id: String,
    /// The spec file it stands in.
    pub file: String,
    /// The line, trimmed.
    pub text: String,
}

/// Every `MUST [id]` / `MUST NOT [id]` in the spec's section files, in order.
pub fn musts(spec_dir: &Path) -> Result<Vec<Must>, String> {
    let mut files: Vec<_> = std::fs::read_dir(spec_dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.as_bytes().first().is_some_and(u8::is_ascii_digit) && n.ends_with(".md")
            })
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        for line in text.lines() {
            let mut rest = line;
            while let Some(i) = rest.find("MUST") {
                rest = rest.get(i + 4..).unwrap_or_default();
                let after = rest.strip_prefix(" NOT").unwrap_or(rest);
                if let Some(tagged) = after.strip_prefix(" [") {
                    if let Some(end) = tagged.find(']') {
                        let id = tagged.get(..end).unwrap_or_default().to_string();
                        out.push(Must {
                            id,
                            file: file.clone(),
                            text: line.trim().to_string(),
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// MUST id → checkers, merging the relay cases' `covers` and [`CHECKERS`].
pub fn checkers() -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for case in crate::relay::cases() {
        for id in case.covers {
            map.entry((*id).to_string())
                .or_default()
                .push(format!("case:{}", case.id));
        }
    }
    for case in crate::peer::cases() {
        for id in case.covers {
            map.entry((*id).to_string())
                .or_default()
                .push(format!("case:{}", case.id));
        }
    }
    for (id, list) in CHECKERS {
        map.entry((*id).to_string())
            .or_default()
            .extend(list.iter().map(|s| (*s).to_string()));
    }
    map
}

/// Sorts ids like `3.10-1` after `3.9-2`.
fn key(id: &str) -> Vec<u32> {
    id.split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

/// The markdown of `spec/coverage.md`.
pub fn render(musts: &[Must]) -> String {
    let map = checkers();
    let mut sorted = musts.to_vec();
    sorted.sort_by_key(|m| key(&m.id));
    let mut out = String::from(
        "# Coverage of the spec's MUSTs\n\nGenerated by `conformance/src/coverage.rs` \
         (`UPDATE_COVERAGE=1 cargo test -p cryptully-conformance --test coverage`); a test fails \
         when a MUST has no checker or a checker does not exist. Kinds: `case` (conformance \
         case), `vector` (golden vectors), `test` (reference test), `fuzz` (fuzz target), \
         `review` (holds by construction, where to read it).\n\n| MUST | Where | Checked by |\n|------|-------|------------|\n",
    );
    for m in sorted {
        let checks = map
            .get(&m.id)
            .map(|v| v.join("<br>"))
            .unwrap_or_else(|| "**none**".into());
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            m.id,
            m.file,
            checks.replace('|', "\\|")
        ));
    }
    out
}
