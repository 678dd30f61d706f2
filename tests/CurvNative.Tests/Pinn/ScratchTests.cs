using System.Diagnostics;
using CurvNative.Pinn;
using CurvNative.Pinn.Optimizers;
using CurvNative.Pinn.Problems;
using CurvNative.Pinn.Training;
using Xunit;
using Xunit.Abstractions;

namespace CurvNative.Tests.Pinn;

public class ScratchTests(ITestOutputHelper output)
{
    [Fact]
    public void Scratch()
    {
        var p = PinnProblem.Create("poisson2d");
        var batch = PinnBatch.Draw(p, 900, 120, 0, 1);
        var big = new ResidualMap(p, PinnNetwork.Mlp(2, [64], 0));
        var sw = Stopwatch.StartNew();
        void Time(string what, Action a, int reps = 5)
        {
            a();
            var times = new List<double>();
            for (int i = 0; i < reps; i++) { sw.Restart(); a(); times.Add(sw.Elapsed.TotalMilliseconds); }
            output.WriteLine($"{what}: min {times.Min():F2} ms median {times.Order().ElementAt(reps / 2):F2}");
        }
        Time("loss", () => big.Loss(batch));
        Time("nodes", () => big.Nodes(batch));
        var (ni, nb) = big.Nodes(batch);
        Time("pointjac interior", () => CurvNative.Pde.PointJacobian.Compute(ni, big.Parameters));
        Time("linearize", () => big.Linearize(batch));
        var lin = big.Linearize(batch);
        Time("woodbury", () => NaturalGradient.Woodbury(lin, 1e-10));
        Time("kernel", () => lin.KernelMatrix());
        var ev = new L2Evaluator(p, 5000);
        Time("eval5000", () => ev.RelativeError(big.Model));
    }
}
