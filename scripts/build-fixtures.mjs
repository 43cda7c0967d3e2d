console.log("fixtures: none yet")
