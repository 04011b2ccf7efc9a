#pragma once
// MQTT 5 publisher and subscriber for the integration tests, on Paho C++ (Debian's
// libpaho-mqttpp-dev speaks MQTT 5 with properties; mosquitto_pub/sub 2.0 can set user
// properties but print none of the ones they receive). In-process: Paho's threads, no child
// process to stop. Failures fail the test (REQUIRE), with Paho's exception text.

#include <catch2/catch.hpp>
#include <mqtt/async_client.h>
#include <mqtt/connect_options.h>
#include <mqtt/create_options.h>
#include <mqtt/message.h>
#include <mqtt/properties.h>

#include <chrono>
#include <memory>
#include <optional>
#include <tuple>
#include <string>
#include <utility>
#include <vector>

namespace spry::test {

struct mqtt5_message {
  std::string topic;
  std::string payload;
  std::string content_type;                                  ///< "" when absent
  std::vector<std::pair<std::string, std::string>> user;     ///< user properties, in order
  int qos = 0;

  std::string user_property(const std::string& name) const {
    for (const auto& [k, v] : user)
      if (k == name)
        return v;
    return {};
  }
};

/// A connected MQTT 5 client (clean start) on the loopback broker at `port`.
class mqtt5_client {
public:
  mqtt5_client(uint16_t port, const std::string& client_id)
    : cli_("tcp://127.0.0.1:" + std::to_string(port), client_id,
           mqtt::create_options(MQTTVERSION_5)) {
    try {
      cli_.connect(mqtt::connect_options_builder()
                     .mqtt_version(MQTTVERSION_5)
                     .clean_start(true)
                     .connect_timeout(std::chrono::seconds(5))
                     .finalize())
        ->wait();
    } catch (const mqtt::exception& e) {
      FAIL("MQTT 5 test client cannot connect: " << e.what());
    }
  }
  ~mqtt5_client() {
    try {
      if (cli_.is_connected())
        cli_.disconnect()->wait_for(std::chrono::seconds(2));
    } catch (const mqtt::exception&) {
    }
  }

  /// Subscribes (QoS 1) and returns once the broker acknowledged it; messages are then read
  /// with next().
  void subscribe(const std::string& filter) {
    cli_.start_consuming();
    try {
      cli_.subscribe(filter, 1)->wait();
    } catch (const mqtt::exception& e) {
      FAIL("MQTT 5 test client cannot subscribe to " << filter << ": " << e.what());
    }
  }

  /// The next message within `within`, or nullopt.
  std::optional<mqtt5_message> next(std::chrono::milliseconds within) {
    auto m = cli_.try_consume_message_for(within);
    if (!m)
      return std::nullopt;
    mqtt5_message out;
    out.topic = m->get_topic();
    out.payload = m->to_string();
    out.qos = m->get_qos();
    const auto& props = m->get_properties();
    if (props.contains(mqtt::property::CONTENT_TYPE))
      out.content_type = mqtt::get<std::string>(props, mqtt::property::CONTENT_TYPE);
    for (size_t i = 0; i < props.count(mqtt::property::USER_PROPERTY); ++i) {
      const auto kv = mqtt::get<mqtt::string_pair>(props, mqtt::property::USER_PROPERTY, i);
      out.user.emplace_back(std::get<0>(kv), std::get<1>(kv));
    }
    return out;
  }

  /// Publishes at QoS 1 and waits for the broker's PUBACK.
  void publish(const std::string& topic, const std::string& payload,
               const std::string& content_type,
               const std::vector<std::pair<std::string, std::string>>& user) {
    mqtt::properties props;
    if (!content_type.empty())
      props.add({mqtt::property::CONTENT_TYPE, content_type});
    for (const auto& [k, v] : user)
      props.add({mqtt::property::USER_PROPERTY, k, v});
    try {
      cli_.publish(mqtt::message_ptr_builder()
                     .topic(topic)
                     .payload(payload)
                     .qos(1)
                     .properties(std::move(props))
                     .finalize())
        ->wait();
    } catch (const mqtt::exception& e) {
      FAIL("MQTT 5 test client cannot publish on " << topic << ": " << e.what());
    }
  }

private:
  mqtt::async_client cli_;
};

} // namespace spry::test
