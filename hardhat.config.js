// Hardhat serves only as a local cancun node for smoke-testing contracts/artifacts.
module.exports = {
  networks: {
    hardhat: {
      hardfork: "cancun",
      chainId: 31337,
    },
  },
};
