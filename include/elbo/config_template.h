// `elbo config template`: a commented configuration holding every key of the key
// table (src/config/config_fields.cc) with its default and a one-line description, so a
// new user starts from a file that names everything there is to set. The text parses
// back (parse_config) to the defaults, data.train being a placeholder path.
#pragma once
#include <string>

namespace elbo {

// model_type: a value of model.type to write ("" keeps the default); an Error when it is
// not one of the model types.
std::string config_template(const std::string& model_type = "");

// The one-line description of a dotted key ("train.lr"), "" when it has none (a unit
// test requires one for every key of the table).
std::string config_key_description(const std::string& dotted_key);

}  // namespace elbo
