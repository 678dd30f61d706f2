using CurvNative.Autodiff;
using CurvNative.Interop;
using CurvNative.NN.Losses;
using CurvNative.NN.Training;
using Xunit;

namespace CurvNative.Tests.NN;

/// <summary>The data set loss and gradient do not depend on the batch size, for every reduction.</summary>
public class DataSetObjectiveTests
{
    private static ModelFiles<double> Load(string name) => ModelFiles<double>.Load(
        PyTorchFixtureTests.Fixture("models", name, "model.json"),
        PyTorchFixtureTests.Fixture("models", name, "weights.safetensors"),
        PyTorchFixtureTests.Fixture("models", name, "data.safetensors"));

    [Theory]
    [InlineData("mlp")]
    [InlineData("cnn")]
    [InlineData("mlp_mse")]
    [InlineData("mlp_bce")]
    public void EveryBatchSizeGivesTheFullBatchResult(string name)
    {
        var files = Load(name);
        var full = new DataSetObjective<double>(files.Model, files.Loss, files.Data).LossAndGradient();
        for (int b = 1; b <= files.Data.Count; b++)
        {
            var objective = new DataSetObjective<double>(files.Model, files.Loss, files.Data, b);
            var (loss, grad) = objective.LossAndGradient();
            Assert.True(Math.Abs(loss - full.Loss) <= 1e-13 * Math.Abs(full.Loss), $"{name}, batch {b}: loss {loss:R} vs {full.Loss:R}");
            Assert.Equal(loss, objective.Loss(), 14);
            double err = Cli.CliRunner.RelativeError(grad.Span, full.Gradient.Span);
            Assert.True(err < 1e-13, $"{name}, batch {b}: relative gradient difference {err:E2}");

            // The weighted batch losses sum to the data set loss.
            double sum = 0;
            using (GradMode.Disable())
                foreach (var batch in objective.Batches()) sum += objective.WeightedBatchLoss(batch).Value.ToScalar();
            Assert.True(Math.Abs(sum - full.Loss) <= 1e-13 * Math.Abs(full.Loss), $"{name}, batch {b}: sum of weighted batch losses {sum:R}");
        }
    }

    [Fact]
    public void BatchWeightIsTheShareForMeanAndOneForSum()
    {
        var files = Load("mlp_mse"); // N = 9, C = 2
        var mean = new DataSetObjective<double>(files.Model, new MSELoss<double>(Reduction.Mean), files.Data, 4);
        Assert.Equal(4.0 / 9, mean.BatchWeight(4, 2), 15);
        Assert.Equal(1.0 / 9, mean.BatchWeight(1, 2), 15);
        var sum = new DataSetObjective<double>(files.Model, new MSELoss<double>(Reduction.Sum), files.Data, 4);
        Assert.Equal(1.0, sum.BatchWeight(4, 2));
        var ce = new DataSetObjective<double>(files.Model, new CrossEntropyLoss<double>(Reduction.Mean), files.Data);
        Assert.Equal(1.0, ce.BatchWeight(9, 2));
        Assert.Equal(9, ce.BatchSize);
    }

    [Fact]
    public void RejectsNonPositiveBatchSizes()
    {
        var files = Load("mlp");
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataSetObjective<double>(files.Model, files.Loss, files.Data, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataSetObjective<double>(files.Model, files.Loss, files.Data, -2));
    }
}
