using System.Diagnostics;
using CurvNative.Autodiff;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.NN.Optim;
using CurvNative.NN.Training;
using CurvNative.Tensors;

namespace CurvNative.Cli.Demo;

/// <summary>Training settings shared by the demo's models (each model has its own learning rate).</summary>
internal sealed record DemoSettings(int Epochs, int Seed, int BatchSize = 64);

/// <summary>A trained model with its data (in the model's input layout) and final metrics.</summary>
internal sealed record DemoResult(
    DemoModel Definition,
    Sequential<float> Model,
    Loss<float> Loss,
    DataSet<float> Train,
    DataSet<float> Test,
    int ParameterCount,
    double TrainLoss,
    double TestLoss,
    double TestAccuracy,
    TimeSpan Elapsed);

/// <summary>Mini-batch Adam training in float32 with a seeded initialisation and a seeded shuffle per epoch.</summary>
internal static class DemoTrainer
{
    /// <summary>Optimizer steps of one model: epochs times batches per epoch.</summary>
    public static int Steps(DemoSettings settings, int samples) => settings.Epochs * ((samples + settings.BatchSize - 1) / settings.BatchSize);

    /// <summary>Trains one model; <paramref name="onStep"/> runs after every optimizer step.</summary>
    public static DemoResult Train(DemoModel definition, DigitsData data, DemoSettings settings, Action? onStep = null)
    {
        var clock = Stopwatch.StartNew();
        var model = definition.Spec.BuildModel<float>(settings.Seed);
        var loss = definition.Spec.BuildLoss<float>();
        var train = definition.Layout(data.Train);
        var test = definition.Layout(data.Test);
        var parameters = model.Parameters().ToList();
        var wrt = parameters.Select(p => p.Var).ToList();
        var optimizer = new Adam<float>(parameters, definition.LearningRate);
        var rng = new Random(settings.Seed);
        var order = Enumerable.Range(0, train.Count).ToArray();

        for (int epoch = 0; epoch < settings.Epochs; epoch++)
        {
            rng.Shuffle(order);
            foreach (var batch in Shuffled(train, order).Batches(settings.BatchSize))
            {
                var value = loss.Forward(model.Forward(Var<float>.Constant(batch.X)), batch.Y);
                optimizer.Step(Autograd.Grad(value, wrt));
                onStep?.Invoke();
            }
        }

        const int evalBatch = 512;
        double trainLoss = new DataSetObjective<float>(model, loss, train, evalBatch).Loss();
        double testLoss = new DataSetObjective<float>(model, loss, test, evalBatch).Loss();
        double accuracy = Accuracy(model, test, evalBatch);
        return new DemoResult(definition, model, loss, train, test, ParameterVector.Count(parameters),
            trainLoss, testLoss, accuracy, clock.Elapsed);
    }

    /// <summary>A copy of the data set with samples in the given order.</summary>
    private static DataSet<float> Shuffled(DataSet<float> data, int[] order)
    {
        int n = data.Count, inner = data.X.Length / n;
        var x = Tensor<float>.Zeros(data.X.ShapeArray);
        var src = data.X.Span; var dst = x.Span;
        var labels = data.Y.ClassIndices;
        var classes = new int[n];
        for (int i = 0; i < n; i++)
        {
            src.Slice(order[i] * inner, inner).CopyTo(dst.Slice(i * inner, inner));
            classes[i] = labels[order[i]];
        }
        return new DataSet<float>(x, Targets<float>.FromClasses(classes));
    }

    /// <summary>The fraction of samples whose largest logit is the true class.</summary>
    public static double Accuracy(Module<float> model, DataSet<float> data, int batchSize)
    {
        using var _ = GradMode.Disable();
        int correct = 0;
        foreach (var batch in data.Batches(batchSize))
        {
            var logits = model.Forward(Var<float>.Constant(batch.X)).Value;
            int c = logits.Shape[1];
            var span = logits.Span;
            var labels = batch.Y.ClassIndices;
            for (int i = 0; i < batch.Count; i++)
            {
                var row = span.Slice(i * c, c);
                int best = 0;
                for (int k = 1; k < c; k++) if (row[k] > row[best]) best = k;
                if (best == labels[i]) correct++;
            }
        }
        return (double)correct / data.Count;
    }
}
