// Tests of the user and group look-ups (identity.h).
#include "common/identity.h"

#include <gtest/gtest.h>

#include <string>

namespace mrelay {
namespace {

TEST(Identity, ResolvesUsersAndNamesTheFlagOnErrors) {
  auto root = resolve_identity("root", "");
  ASSERT_TRUE(root) << root.error().to_string();
  EXPECT_EQ(root->uid, 0u);
  EXPECT_EQ(root->gid, 0u);
  auto numeric = resolve_identity("4242", "4343");
  ASSERT_TRUE(numeric) << numeric.error().to_string();
  EXPECT_EQ(numeric->uid, 4242u);
  EXPECT_EQ(numeric->gid, 4343u);

  auto unknown = resolve_identity("no-such-user-mrelay", "");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().where, "--user");
  EXPECT_NE(unknown.error().message.find("no-such-user-mrelay"), std::string::npos);
  auto bad_group = resolve_identity("root", "no-such-group-mrelay");
  ASSERT_FALSE(bad_group);
  EXPECT_EQ(bad_group.error().where, "--group");
  auto numeric_alone = resolve_identity("4242", "");
  ASSERT_FALSE(numeric_alone);
  EXPECT_EQ(numeric_alone.error().where, "--group");
}

TEST(Identity, ResolvesGroupsByNameOrNumber) {
  auto root = resolve_group("root", "--control-group");
  ASSERT_TRUE(root) << root.error().to_string();
  EXPECT_EQ(*root, 0u);
  auto numeric = resolve_group("4343", "--control-group");
  ASSERT_TRUE(numeric) << numeric.error().to_string();
  EXPECT_EQ(*numeric, 4343u);
  auto unknown = resolve_group("no-such-group-mrelay", "--control-read-group");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().where, "--control-read-group");
}

}  // namespace
}  // namespace mrelay
