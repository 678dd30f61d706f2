using CurvNative.Autodiff;
using CurvNative.Pde;
using CurvNative.Pinn;
using CurvNative.Pinn.Problems;
using CurvNative.Pinn.Training;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Pinn;

public class ResidualMapTests
{
    internal static (ResidualMap Map, PinnBatch Batch) Small(string problem, int[] hidden, int interior, int boundary, int seed = 3)
    {
        var p = PinnProblem.Create(problem);
        var model = PinnNetwork.Mlp(p.Dimension, hidden, seed);
        return (new ResidualMap(p, model), PinnBatch.Draw(p, interior, boundary, seed, 1));
    }

    [Theory]
    [InlineData("poisson2d")]
    [InlineData("poisson5d")]
    [InlineData("heat4d")]
    public void JacobianEqualsCentralFiniteDifferences(string problem)
    {
        var (map, batch) = Small(problem, [5, 4], 6, 3);
        var j = map.Linearize(batch).Jacobian;
        var theta = map.GetParameters().ToArray();
        int n = batch.Count, p = map.ParameterCount;
        const double h = 1e-5;
        double worst = 0, scale = j.ToArray().Max(Math.Abs);
        for (int c = 0; c < p; c++)
        {
            var plus = (double[])theta.Clone(); plus[c] += h;
            var minus = (double[])theta.Clone(); minus[c] -= h;
            map.SetParameters(plus); var rp = map.Residual(batch).ToArray();
            map.SetParameters(minus); var rm = map.Residual(batch).ToArray();
            for (int i = 0; i < n; i++) worst = Math.Max(worst, Math.Abs((rp[i] - rm[i]) / (2 * h) - j.Span[i * p + c]));
        }
        map.SetParameters(theta);
        Assert.True(worst <= 1e-6 * scale, $"max |J - FD| = {worst:G3} (scale {scale:G3})");
    }

    [Fact]
    public void LinearizingIntoAWorkspaceReusesItsBuffersAndOverwritesThem()
    {
        var (map, batch) = Small("poisson5d", [6, 5], 9, 4);
        var fresh = map.Linearize(batch);
        var freshKernel = fresh.KernelMatrix();
        var workspace = new StepWorkspace();
        var first = map.Linearize(batch, workspace);
        var kernel = first.KernelMatrix(workspace);
        // Poison both buffers: the next step must overwrite every entry, not accumulate into or skip any.
        first.Jacobian.Span.Fill(double.NaN);
        Array.Fill(kernel, double.NaN);
        var second = map.Linearize(PinnBatch.Draw(map.Problem, 9, 4, 3, 1), workspace);
        var kernel2 = second.KernelMatrix(workspace);
        Assert.True(System.Runtime.CompilerServices.Unsafe.AreSame(ref first.Jacobian.Span[0], ref second.Jacobian.Span[0]), "J was reallocated");
        Assert.Same(kernel, kernel2);
        double scale = fresh.Jacobian.ToArray().Max(Math.Abs), kscale = freshKernel.Max(Math.Abs);
        for (int i = 0; i < fresh.Jacobian.Length; i++) Assert.True(Math.Abs(second.Jacobian.Span[i] - fresh.Jacobian.Span[i]) <= 1e-14 * scale, $"J[{i}]");
        for (int i = 0; i < freshKernel.Length; i++) Assert.True(Math.Abs(kernel2[i] - freshKernel[i]) <= 1e-13 * kscale, $"K[{i}]");
        // Another batch size: new buffers of the new size.
        var third = map.Linearize(PinnBatch.Draw(map.Problem, 5, 2, 3, 2), workspace);
        Assert.Equal(7 * map.ParameterCount, third.Jacobian.Length);
        Assert.Equal(49, third.KernelMatrix(workspace).Length);
    }

    [Fact]
    public void JacobianEqualsNestedAutodiffReference()
    {
        // Reference: -Delta u by nested first-order autodiff (double backward), J row by row by reverse sweeps.
        var (map, batch) = Small("poisson5d", [6, 5], 9, 4);
        var lin = map.Linearize(batch);
        int ni = batch.Interior.Shape[0], nb = batch.Boundary.Shape[0], p = map.ParameterCount;
        Var<double> reference;
        using (GradMode.Enable())
        {
            var lap = PdeOps.Apply(map.Model.Forward, batch.Interior, PdeOperator<double>.Laplacian(5), TaylorMode.Nested).Values;
            reference = F.Scale(F.Sub(F.Scale(lap, -1.0), Var<double>.Constant(map.Problem.Sources(batch.Interior))), 1 / Math.Sqrt(ni));
        }
        var jr = PointJacobian.ComputeByCotangents(reference, map.Parameters);
        double worst = 0, scale = jr.ToArray().Max(Math.Abs);
        for (int i = 0; i < ni * p; i++) worst = Math.Max(worst, Math.Abs(jr.Span[i] - lin.Jacobian.Span[i]));
        Assert.True(worst <= 1e-12 * scale, $"max |J - J_nested| = {worst:G3}");
        for (int i = 0; i < ni; i++) Assert.Equal(reference.Value.Span[i], lin.Residual.Span[i], 1e-12);
        Assert.Equal(ni + nb, lin.Rows);
    }

    [Fact]
    public void GramianAndKernelOperatorsEqualTheirDenseDefinitions()
    {
        var (map, batch) = Small("poisson2d", [7], 10, 4);
        var lin = map.Linearize(batch);
        int n = lin.Rows, p = lin.Columns;
        var j = lin.Jacobian.Span;
        var g = lin.Gramian();
        Assert.True(g.IsPositiveSemiDefinite);
        Assert.Equal(map.ParameterSpace, g.InputSpace);
        var dense = g.ToDense().Span;
        var gm = lin.GramianMatrix();
        var km = lin.KernelMatrix();
        var kd = lin.Kernel().ToDense().Span;
        for (int a = 0; a < p; a++)
            for (int b = 0; b < p; b++)
            {
                double s = 0;
                for (int i = 0; i < n; i++) s += j[i * p + a] * j[i * p + b];
                Assert.Equal(s, dense[a * p + b], 1e-12);
                Assert.Equal(s, gm[a * p + b], 1e-12);
            }
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
            {
                double s = 0;
                for (int c = 0; c < p; c++) s += j[a * p + c] * j[b * p + c];
                Assert.Equal(s, km[a * n + b], 1e-12);
                Assert.Equal(s, kd[a * n + b], 1e-12);
            }
        // The gradient J^T r equals the reverse-mode gradient of 1/2 ||r||^2.
        var (loss, grad) = map.LossAndGradient(batch);
        Assert.Equal(lin.Loss, loss, 1e-14);
        var jtr = lin.Gradient().Span;
        for (int c = 0; c < p; c++) Assert.Equal(jtr[c], grad.Span[c], 1e-12);
    }

    [Fact]
    public void SamplingIsSeededOnTheFacesAndInsideTheCube()
    {
        var p = PinnProblem.Create("heat4d");
        var a = PinnBatch.Draw(p, 50, 400, 7, 3);
        var b = PinnBatch.Draw(p, 50, 400, 7, 3);
        var c = PinnBatch.Draw(p, 50, 400, 7, 4);
        Assert.Equal(a.Interior.ToArray(), b.Interior.ToArray());
        Assert.Equal(a.Boundary.ToArray(), b.Boundary.ToArray());
        Assert.NotEqual(a.Interior.ToArray(), c.Interior.ToArray());
        var x = a.Boundary.Span;
        int initial = 0, topTime = 0;
        for (int i = 0; i < 400; i++)
        {
            var row = x.Slice(i * 5, 5);
            Assert.All(row.ToArray(), v => Assert.InRange(v, 0, 1));
            bool spatialFace = false;
            for (int d = 0; d < 4; d++) spatialFace |= row[d] == 0 || row[d] == 1;
            if (row[4] == 0) initial++;
            if (row[4] == 1) topTime++;
            Assert.True(spatialFace || row[4] == 0, "a heat boundary point lies on a spatial face or at t = 0");
        }
        Assert.Equal(0, topTime); // t = 1 is not a boundary of the heat problem
        Assert.InRange(initial, 400 / 9 / 2, 400 / 9 * 2); // one face of nine
    }

    [Theory]
    [InlineData("poisson2d")]
    [InlineData("poisson5d")]
    [InlineData("poisson10d")]
    [InlineData("poisson100d")]
    [InlineData("heat4d")]
    public void TheExactSolutionHasZeroResidual(string name)
    {
        // -Delta u* = f and the heat equation, checked by central differences of u* at interior points.
        var p = PinnProblem.Create(name);
        var x = p.SampleInterior(new Random(5), 4).ToArray();
        int d = p.Dimension;
        const double h = 1e-4;
        for (int i = 0; i < 4; i++)
        {
            var row = x.AsSpan(i * d, d).ToArray();
            double u0 = p.Solution(row), lap = 0, dt = 0;
            int spatial = name == "heat4d" ? 4 : d;
            for (int k = 0; k < d; k++)
            {
                var plus = (double[])row.Clone(); plus[k] += h;
                var minus = (double[])row.Clone(); minus[k] -= h;
                double second = (p.Solution(plus) - 2 * u0 + p.Solution(minus)) / (h * h);
                if (k < spatial) lap += second;
                else dt = (p.Solution(plus) - p.Solution(minus)) / (2 * h);
            }
            double lhs = name == "heat4d" ? dt - 0.25 * lap : -lap;
            Assert.Equal(p.Source(row), lhs, 1e-4 * Math.Max(1, Math.Abs(p.Source(row))));
        }
    }
}
