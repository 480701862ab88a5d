// Thin pybind11 binding over the real PCL 1.13 (Debian's libpcl packages): Euclidean clustering,
// normal estimation and region growing on float32 N x 3 numpy arrays.
//
// Why a binding of our own: python-pcl from pip does not build, and Debian's python3-pcl has no
// region growing and is tied to the system Python. This file is compiled on demand by
// `python -m sdmr.pointcloud.build_pcl`; the Python side is sdmr/pointcloud/pcl_backend.py.
// Each function builds a fresh cloud and KdTree, so calls are independent and thread-safe; the GIL is
// released while PCL runs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <pcl/features/normal_3d.h>
#include <pcl/point_cloud.h>
#include <pcl/point_types.h>
#include <pcl/search/kdtree.h>
#include <pcl/segmentation/extract_clusters.h>
#include <pcl/segmentation/region_growing.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using Cloud = pcl::PointCloud<pcl::PointXYZ>;
using Normals = pcl::PointCloud<pcl::Normal>;

namespace {

Cloud::Ptr to_cloud(const FloatArray& points) {
  if (points.ndim() != 2 || points.shape(1) != 3) {
    throw std::invalid_argument("points must be an N x 3 array, got ndim " + std::to_string(points.ndim()));
  }
  const auto n = static_cast<std::size_t>(points.shape(0));
  auto cloud = Cloud::Ptr(new Cloud);
  cloud->resize(n);
  cloud->width = static_cast<std::uint32_t>(n);
  cloud->height = 1;
  cloud->is_dense = true;
  auto p = points.unchecked<2>();
  for (std::size_t i = 0; i < n; ++i) {
    (*cloud)[i].x = p(i, 0);
    (*cloud)[i].y = p(i, 1);
    (*cloud)[i].z = p(i, 2);
  }
  return cloud;
}

py::array_t<std::int32_t> to_labels(std::size_t n, const std::vector<pcl::PointIndices>& clusters) {
  py::array_t<std::int32_t> labels(static_cast<py::ssize_t>(n));
  auto out = labels.mutable_unchecked<1>();
  for (std::size_t i = 0; i < n; ++i) out(i) = -1;
  for (std::size_t c = 0; c < clusters.size(); ++c) {
    for (const auto idx : clusters[c].indices) out(idx) = static_cast<std::int32_t>(c);
  }
  return labels;
}

void compute_normals(const Cloud::Ptr& cloud, int k, Normals& normals) {
  pcl::search::KdTree<pcl::PointXYZ>::Ptr tree(new pcl::search::KdTree<pcl::PointXYZ>);
  pcl::NormalEstimation<pcl::PointXYZ, pcl::Normal> ne;
  ne.setInputCloud(cloud);
  ne.setSearchMethod(tree);
  ne.setKSearch(k);
  ne.setViewPoint(0.0f, 0.0f, 0.0f);  // camera frame: normals flipped towards the sensor
  ne.compute(normals);
}

py::array_t<std::int32_t> euclidean_clusters(const FloatArray& points, double tolerance, int min_size,
                                             int max_size) {
  auto cloud = to_cloud(points);
  std::vector<pcl::PointIndices> clusters;
  {
    py::gil_scoped_release release;
    if (!cloud->empty()) {
      pcl::search::KdTree<pcl::PointXYZ>::Ptr tree(new pcl::search::KdTree<pcl::PointXYZ>);
      tree->setInputCloud(cloud);
      pcl::EuclideanClusterExtraction<pcl::PointXYZ> ec;
      ec.setClusterTolerance(tolerance);
      ec.setMinClusterSize(min_size);
      ec.setMaxClusterSize(max_size);
      ec.setSearchMethod(tree);
      ec.setInputCloud(cloud);
      ec.extract(clusters);
    }
  }
  return to_labels(cloud->size(), clusters);
}

py::tuple estimate_normals(const FloatArray& points, int k) {
  auto cloud = to_cloud(points);
  Normals normals;
  {
    py::gil_scoped_release release;
    if (!cloud->empty()) compute_normals(cloud, k, normals);
  }
  const auto n = static_cast<py::ssize_t>(cloud->size());
  py::array_t<float> out_normals({n, static_cast<py::ssize_t>(3)});
  py::array_t<float> out_curvature(n);
  auto on = out_normals.mutable_unchecked<2>();
  auto oc = out_curvature.mutable_unchecked<1>();
  for (py::ssize_t i = 0; i < n; ++i) {
    const auto& q = normals[static_cast<std::size_t>(i)];
    on(i, 0) = q.normal_x;
    on(i, 1) = q.normal_y;
    on(i, 2) = q.normal_z;
    oc(i) = q.curvature;
  }
  return py::make_tuple(out_normals, out_curvature);
}

py::array_t<std::int32_t> region_growing(const FloatArray& points, int k_normals, int num_neighbours,
                                         double smoothness_rad, double curvature_threshold, int min_size,
                                         int max_size) {
  auto cloud = to_cloud(points);
  std::vector<pcl::PointIndices> clusters;
  {
    py::gil_scoped_release release;
    if (!cloud->empty()) {
      Normals::Ptr normals(new Normals);
      compute_normals(cloud, k_normals, *normals);
      pcl::search::KdTree<pcl::PointXYZ>::Ptr tree(new pcl::search::KdTree<pcl::PointXYZ>);
      pcl::RegionGrowing<pcl::PointXYZ, pcl::Normal> rg;
      rg.setMinClusterSize(min_size);
      rg.setMaxClusterSize(max_size);
      rg.setSearchMethod(tree);
      rg.setNumberOfNeighbours(static_cast<unsigned int>(num_neighbours));
      rg.setInputCloud(cloud);
      rg.setInputNormals(normals);
      rg.setSmoothnessThreshold(static_cast<float>(smoothness_rad));
      rg.setCurvatureThreshold(static_cast<float>(curvature_threshold));
      rg.extract(clusters);
    }
  }
  return to_labels(cloud->size(), clusters);
}

// Diagnostics, for the agreement tests: the two inputs of RegionGrowing that a re-implementation can
// legitimately order differently from PCL.

// PCL's nearestKSearch on a KdTree (FLANN, exact): N x k indices, nearest first, the point itself included.
py::array_t<std::int32_t> nearest_k(const FloatArray& points, int k) {
  auto cloud = to_cloud(points);
  const auto n = static_cast<py::ssize_t>(cloud->size());
  py::array_t<std::int32_t> out({n, static_cast<py::ssize_t>(k)});
  auto o = out.mutable_unchecked<2>();
  for (py::ssize_t i = 0; i < n; ++i)
    for (int j = 0; j < k; ++j) o(i, j) = -1;
  if (n == 0) return out;
  pcl::search::KdTree<pcl::PointXYZ> tree;
  tree.setInputCloud(cloud);
  pcl::Indices nn;
  std::vector<float> d2;
  for (py::ssize_t i = 0; i < n; ++i) {
    tree.nearestKSearch(static_cast<pcl::index_t>(i), k, nn, d2);
    for (std::size_t j = 0; j < nn.size() && j < static_cast<std::size_t>(k); ++j) o(i, j) = nn[j];
  }
  return out;
}

// The order RegionGrowing::applySmoothRegionGrowingAlgorithm takes seeds in: (curvature, index) pairs
// sorted by std::sort with pcl::comparePair (curvature only; std::sort is not stable, so equal
// curvatures come out in an order of the sort's own making, which no stable argsort reproduces).
py::array_t<std::int64_t> seed_order(const FloatArray& curvature) {
  if (curvature.ndim() != 1) throw std::invalid_argument("curvature must be 1-D");
  const auto n = static_cast<std::size_t>(curvature.shape(0));
  auto c = curvature.unchecked<1>();
  std::vector<std::pair<float, int>> residual(n);
  for (std::size_t i = 0; i < n; ++i) residual[i] = {c(i), static_cast<int>(i)};
  std::sort(residual.begin(), residual.end(), pcl::comparePair);
  py::array_t<std::int64_t> out(static_cast<py::ssize_t>(n));
  auto o = out.mutable_unchecked<1>();
  for (std::size_t i = 0; i < n; ++i) o(i) = residual[i].second;
  return out;
}

}  // namespace

PYBIND11_MODULE(_pcl_binding, m) {
  m.doc() = "Thin binding over PCL 1.13: EuclideanClusterExtraction, NormalEstimation, RegionGrowing";
  m.attr("PCL_VERSION") = PCL_VERSION_PRETTY;
  m.def("euclidean_clusters", &euclidean_clusters, py::arg("points"), py::arg("tolerance"),
        py::arg("min_size"), py::arg("max_size"),
        "int32 label per point (-1 = in no cluster kept), clusters in PCL's output order (largest first)");
  m.def("estimate_normals", &estimate_normals, py::arg("points"), py::arg("k"),
        "(normals N x 3, curvature N) from PCL NormalEstimation, k-search, viewpoint at the origin");
  m.def("region_growing", &region_growing, py::arg("points"), py::arg("k_normals"),
        py::arg("num_neighbours"), py::arg("smoothness_rad"), py::arg("curvature_threshold"),
        py::arg("min_size"), py::arg("max_size"),
        "int32 label per point (-1 = in no region kept), regions in PCL's output order");
  m.def("nearest_k", &nearest_k, py::arg("points"), py::arg("k"),
        "PCL KdTree nearestKSearch for every point: N x k int32 indices, nearest first (diagnostics)");
  m.def("seed_order", &seed_order, py::arg("curvature"),
        "the order RegionGrowing takes seeds in: std::sort by curvature with pcl::comparePair (diagnostics)");
}
